"""The field's reference workloads (ADBench, GradBench): derivative time / objective time against
size, every backend and mode, with published ratios as labelled marks and the forward/reverse
winner (with its CI) where both modes were timed; sizes that could not run are listed with why."""

from __future__ import annotations

import json
from collections import defaultdict

import plotly.graph_objects as go

from adcompare.families.workloads import DERIVATIVE_RATIO
from adcompare.ids import problem_of
from adcompare.measure import stats
from adcompare.problems import all_problems
from adcompare.report import results as R
from adcompare.measure.numbers import fmt_interval, times
from adcompare.report.blocks import esc, label, no_data, note, table, target_key
from adcompare.report.results import parsed
from adcompare.report.sections.charts import group_series, series_figure
from adcompare.report.sections.common import GREY, Context, Section, caveats, op_order, orders

ORDER = 25
TITLE = "Workloads: the field's reference problems"
DERIVATIVE = DERIVATIVE_RATIO.name

# Published derivative/objective ratios, drawn as labelled marks: (workload, source, points of
# (parameter count n, ratio)). ADBench: Srajer, Kukelova & Fitzgibbon 2018, GMM with 10k points
# (Documents/ms.tex, data/gmm/10k/times_*.mat). GradBench: its nightly runs, LSE at n = 1.28 M.
REFERENCE_MARKS = [
    ("gmm", "ADBench Manual (C++)", [(30, 1.88), (330, 2.94), (1200, 2.18), (3300, 3.13), (10_725, 5.48),
                                     (21_450, 5.97), (53_625, 6.16), (429_000, 7.21)]),
    ("gmm", "ADBench Tapenade", [(30, 3.74), (330, 7.69), (1200, 4.09), (3300, 7.93), (10_725, 13.4),
                                 (21_450, 12.1), (53_625, 13.3), (429_000, 15.5)]),
    ("lse", "GradBench nightly, PyTorch", [(1_280_000, 3.46)]),
    ("lse", "GradBench nightly, JAX", [(1_280_000, 1.17)]),
]
MARK_SYMBOLS = ("x-thin", "cross-thin", "star-triangle-up", "star-square")


def sizes(case: str) -> tuple[int, int] | None:
    """(n, m) of a registered case, or None if it no longer names one."""
    from adcompare.errors import UserError
    from adcompare.ids import Case

    try:
        inst = Case.parse(case).instance()
    except UserError:
        return None
    return inst.n, inst.m


def workload_names() -> list[str]:
    return [p.name for p in all_problems() if p.field_derivatives]


def unavailable(ctx: Context, names: set[str]) -> list[list[str]]:
    """Workload figures the runs could not measure here, with the reason (figures files)."""
    rows, seen = [], set()
    for run in ctx.results.latest:
        path = run.path.parent / f"adcompare-figures-{run.short_commit}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for rec in data.get("unavailable", []) if isinstance(data, dict) else []:
            params = rec.get("params") if isinstance(rec, dict) else None
            if not isinstance(params, dict) or problem_of(str(params.get("case", ""))) not in names:
                continue
            if rec.get("benchmark") not in (DERIVATIVE, R.CROSSOVER) or str(params.get("target", "")).endswith(
                    (":cuda", ":gpu")):
                continue
            what = params.get("operator") or params.get("strategy") or ""
            key = (run.machine, params.get("target"), params.get("case"), what)
            if key not in seen:
                seen.add(key)
                rows.append([run.machine, str(params.get("target")), str(params.get("case")), str(what),
                             str(rec.get("reason", ""))])
    return rows


def winner_text(m: R.Measurement) -> str:
    """'forward 26× [24×, 28×]', or 'tie' when the CI of t_fwd/t_rev contains 1."""
    ci = m.ci
    if ci is not None and stats.is_tie(ci):
        return f"tie ({fmt_interval(m.value, ci, 'ratio')})"
    forward = m.value < 1
    factor = 1 / m.value if forward else m.value
    text = f"{'forward' if forward else 'reverse'} {times(factor)}"
    if ci is None:
        return text + " (no CI)"
    lo, hi = (1 / ci[1], 1 / ci[0]) if forward else ci
    return f"{text} [{times(lo)}, {times(hi)}]"


def build(ctx: Context) -> Section:
    names = workload_names()
    intro = ("<p>The objectives of the field's reference suites, ADBench and GradBench, written once on the array "
             "API and differentiated by every backend in both modes: <b>gmm</b> (Gaussian mixture log-posterior, a "
             "gradient), <b>lstm</b> (a deep recurrence with a scalar loss), <b>lse</b> (log-sum-exp), <b>ba</b> "
             "(bundle adjustment, a block-sparse Jacobian), <b>ht</b> (hand tracking: 26 pose parameters against "
             "thousands of residuals, where forward mode should win) and <b>ode</b> (a dense lower-triangular "
             "Jacobian). The chart is the ADBench / GradBench figure: derivative time divided by objective time, "
             "against the parameter count n, both timed in the same process, with 95 % CIs. Published ratios are "
             "drawn as labelled marks with their source; they were measured on other machines with other tools, so "
             "they place our numbers, they do not test them.</p>")
    ms = [m for m in ctx.results.of(DERIVATIVE) if parsed(m) and parsed(m)[0] in names]
    blocks: list = caveats(ctx, ms, [DERIVATIVE])
    if not ms:
        return Section("workloads", TITLE, intro, [*blocks, no_data("workload ratios", DERIVATIVE)])

    def facet(m):
        return parsed(m)[0], str(m.get("operator")), str(m.get("dtype", "float64"))

    def size(m):   # the size that grows: n for a gradient, the outputs for ht's 26 → 3c
        inst = sizes(str(m.get("case")))
        return max(inst) if inst else parsed(m)[1]

    series = group_series(ctx, ms, facet, size)
    fig = series_figure(ctx, series, ("workload", "derivative", "dtype"), size,
                        x_title="problem size max(n, m): parameters, or residuals for ht and ba",
                        y_title="derivative time / objective time")
    views = {s.facets for s in series}
    for machine in ctx.machines(ms):
        for i, (workload, source, points) in enumerate(REFERENCE_MARKS):
            for view in views:
                if view[0] != workload:
                    continue
                fig.add(go.Scatter(x=[n for n, _ in points], y=[r for _, r in points], mode="markers+text",
                                   name=f"published: {source}", legendgroup=f"ref-{source}",
                                   text=[source.split(",")[0] if j == len(points) - 1 else "" for j in range(len(points))],
                                   textposition="top center", textfont={"color": GREY, "size": 11},
                                   marker={"symbol": MARK_SYMBOLS[i % len(MARK_SYMBOLS)], "size": 10, "color": GREY},
                                   hovertext=[f"{label(source)}: {r:g}× at n = {n:,}" for n, r in points],
                                   hoverinfo="text"), machine, view)
    blocks.append(fig.chart("Each line: one backend, the derivative in the menu (vjp: the gradient by one reverse "
                            "pass; jacobian-fwd / jacobian-rev: the full Jacobian by n tangents or m cotangents). "
                            "Error bars: 95 % CIs. Grey marks: published ratios (source in the legend).",
                            orders({"workload": names, "derivative": sorted({f[1] for f in views}, key=op_order)})))

    cross = [m for m in ctx.results.of(R.CROSSOVER) if parsed(m) and parsed(m)[0] in names]
    if cross:
        rows = []
        for m in sorted(cross, key=lambda m: (ctx.results.machines.index(m.run.machine), parsed(m)[0], parsed(m)[1],
                                              target_key(str(m.get("target")), ctx.registry_order))):
            problem, n, opts = parsed(m)
            fwd, rev = m.parts.get("fwd"), m.parts.get("rev")
            rows.append([m.run.machine, str(m.get("target")), str(m.get("case")), str(m.get("strategy")),
                         fmt_interval(fwd.value, fwd.ci, "seconds") if fwd else "-",
                         fmt_interval(rev.value, rev.ci, "seconds") if rev else "-", winner_text(m)])
        blocks.append("<h3>Forward against reverse on the workloads</h3>")
        blocks.append(note("A scalar workload (gmm, lstm) at its smallest size: its gradient by n tangents against "
                           "one cotangent. A vector workload: its full Jacobian both ways. The winner is named only "
                           "when the 95 % CI of t_fwd/t_rev excludes 1."))
        blocks.append(table(["machine", "target", "case", "jacobian", "forward", "reverse", "winner [95 % CI]"], rows,
                            cls="compact"))
    skipped = unavailable(ctx, set(names))
    if skipped:
        blocks.append("<h3>Sizes that could not run here</h3>")
        blocks.append(note("Dense Jacobians of the large instances do not fit (a later sparse operator handles "
                           "them); compiled targets stop at shallow recurrences; a backend without batched "
                           "products has no batched Jacobian."))
        blocks.append(table(["machine", "target", "case", "derivative", "why"], skipped, cls="compact"))
    return Section("workloads", TITLE, intro, blocks)
