"""Memory as measured: the process's peak of one call against n, forward vs reverse, with the
tape bytes the backend counts as the lower bound a VJP's peak cannot go under."""

from __future__ import annotations

from adcompare.families.peak_memory import PEAK
from adcompare.measure.numbers import fmt_value
from adcompare.report import results as R
from adcompare.report.blocks import esc, fmt_measured, label, no_data, note, table
from adcompare.report.results import family_label, parsed
from adcompare.report.sections.charts import group_series, keep_series_with, series_figure
from adcompare.report.sections.common import Context, Section, caveats, orders

ORDER = 41
TITLE = "Memory as measured: peak of a call"


def size(m: R.Measurement) -> int:
    return parsed(m)[1]


def facet(m: R.Measurement):
    problem, _, opts = parsed(m)
    return family_label(problem, opts), str(m.get("operator", "")), str(m.get("dtype", "float64"))


def against_tape(peak: list[R.Measurement], tape: list[R.Measurement]) -> list:
    """A table of each VJP's measured peak beside its tape bytes (same machine, target, dtype, case)."""
    taped = {(m.run.machine, m.get("target"), m.get("dtype"), m.get("case")): m for m in tape}
    rows = []
    for m in peak:
        t = taped.get((m.run.machine, m.get("target"), m.get("dtype"), m.get("case")))
        if m.get("operator") == "vjp" and t is not None and t.value > 0:
            rows.append((m.run.machine, label(m.get("target")), m.get("case"), fmt_measured(m),
                         fmt_value(t.value, "bytes"), f"{m.value / t.value:.2f}"))
    if not rows:
        return [note("No VJP here has both a peak and a tape count to set against each other.")]
    return [table(("machine", "target", "case", "peak (95 % CI)", "tape bytes", "peak / tape"),
                  sorted(rows, key=lambda r: tuple(str(c) for c in r[:3])))]


def build(ctx: Context) -> Section:
    intro = ("<p>The resident memory one call of a prepared, warmed-up operator needs beyond what the "
             "process already held (inputs, constants, compiled code): the kernel's high-water mark, so "
             "it counts everything — tape, temporaries, the result, the framework's own scratch — which "
             "tape bytes do not. Forward vs reverse: a VJP's peak grows with the tape, a JVP's with a few "
             "n-vectors. The tape is a lower bound on a VJP's peak once its arrays take whole pages (glibc serves "
             "arrays under 128 KiB from its heap, where a freed block is reused unseen, so small cases can read "
             "under their tape); the table sets them side by side.</p>")
    peak = [m for m in ctx.results.of(PEAK.name) if parsed(m)]
    if not peak:
        return Section("peak_memory", TITLE, intro, [no_data("peak memory", PEAK.name)])
    tape = [m for m in ctx.results.of(R.TAPE) if parsed(m)]
    blocks: list = caveats(ctx, peak, [PEAK.name])
    ms = [m for m in keep_series_with(peak, facet, size) if m.value > 0]     # a log axis has no 0
    if ms:
        fig = series_figure(ctx, group_series(ctx, ms, facet, size), ("problem", "operator", "dtype"), size,
                            x_title="n (input size)", y_title="peak bytes", x_log=True, y_log=True)
        fig.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="B")
        blocks += ["<h3>Peak memory vs n</h3>", fig.chart(
            "Peak resident bytes of one call vs n, log–log, by operator: pick VJP and JVP to compare reverse "
            "with forward. Readings are page-granular (4 KiB): small calls read 0, and a zero has no place on a "
            "log axis. Repeated in one process, so the CI is that process's spread.", orders())]
    else:
        blocks.append(no_data("peak memory across n (several n of one problem)", PEAK.name))
    blocks += ["<h3>VJP peak against its tape</h3>"] + against_tape(peak, tape)
    blocks.append(note(f"Measured as asv benchmark <code>{esc(PEAK.name)}</code>."))
    return Section("peak_memory", TITLE, intro, blocks)
