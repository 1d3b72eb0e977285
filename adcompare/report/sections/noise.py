"""How much to trust the numbers: per benchmark, how many figures have a CI, how wide it is, and
how many are flagged as noisy (and why); the A/A controls, the machines' noise floor."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from adcompare.report import results as R
from adcompare.measure.stats import relative_halfwidth
from adcompare.measure.numbers import fmt_interval
from adcompare.report.blocks import esc, no_data, note, table, target_key
from adcompare.store.figures_file import FLAG_MEANING
from adcompare.report.sections.common import Context, Section, caveats

ORDER = 70
TITLE = "Uncertainty: CIs, noisy figures, the noise floor"


def halfwidth(ms: list[R.Measurement]) -> str:
    """Median relative half-width of the CIs, √(hi/lo) − 1 (`stats.relative_halfwidth`), over timed figures."""
    widths = [relative_halfwidth(m.ci) for m in ms if m.ci is not None and not m.figure.exact]
    widths = [w for w in widths if w != float("inf")]
    return f"± {100 * statistics.median(widths):.1f} %" if widths else "n/a"


def flagged_table(ctx: Context) -> str:
    groups: dict[tuple[str, str], list[R.Measurement]] = defaultdict(list)
    for m in ctx.results.measurements:
        groups[(m.run.machine, m.benchmark)].append(m)
    flags = list(FLAG_MEANING) + sorted({f for m in ctx.results.measurements for f in m.flags} - set(FLAG_MEANING))
    rows = []
    machines = ctx.results.machines
    for (machine, benchmark), ms in sorted(groups.items(), key=lambda kv: (machines.index(kv[0][0]), kv[0][1])):
        count = Counter(f for m in ms for f in set(m.flags))
        rows.append([machine, benchmark, len(ms), sum(1 for m in ms if m.ci is not None),
                     sum(1 for m in ms if m.figure is None), halfwidth(ms), sum(1 for m in ms if m.noisy),
                     *(count.get(f, 0) for f in flags)])
    return table(["machine", "asv benchmark", "numbers", "with a 95 % CI", "no CI recorded", "median CI half-width",
                  "flagged noisy", *flags], rows, cls="compact flagged")


def aa_table(ctx: Context, controls: list[R.Measurement]) -> str:
    machines = ctx.results.machines
    rows = [[m.run.machine, str(m.get("target")), str(m.get("dtype", "")), str(m.get("case")), str(m.get("operator")),
             fmt_interval(m.value, m.ci, "ratio"), f"{100 * abs(m.value - 1):.2f} %", ", ".join(m.flags) or "none"]
            for m in sorted(controls, key=lambda m: (machines.index(m.run.machine),
                                                     target_key(str(m.get("target")), ctx.registry_order),
                                                     str(m.get("case")), str(m.get("operator"))))]
    return table(["machine", "target", "dtype", "case", "operator", "A/A ratio [95 % CI]", "|A/A − 1|", "flags"],
                 rows, cls="compact aa-controls")


def build(ctx: Context) -> Section:
    intro = ("<p>Every headline figure is measured in several independent processes: the figure is the geometric "
             "mean of the process estimates, its 95 % CI Student's t on their logs (P − 1 degrees of freedom). More "
             "rounds inside one process cannot narrow it, because rounds share that process's memory layout, JIT "
             "code and the machine's state. Derived quantities (crossover points, slopes) get their CIs by a "
             "parametric bootstrap over the figures' CIs. A figure is <b>flagged</b> when its measurement showed "
             "trouble; flagged figures are drawn hollow (lines, points) or faded (bars) with ⚠ and the flags in "
             "their hover text.</p>")
    blocks: list = caveats(ctx, ctx.results.measurements, [])
    blocks += ["<h3>Figures flagged as noisy</h3>", flagged_table(ctx)]
    blocks.append("<dl class='flags'>" + "".join(f"<dt><code>{esc(f)}</code></dt><dd>{esc(text)}</dd>"
                                                   for f, text in FLAG_MEANING.items()) + "</dl>")
    controls = ctx.results.of(R.AA)
    blocks.append("<h3>A/A controls: the noise floor</h3>")
    if not controls:
        blocks.append(no_data("A/A controls", R.AA))
    else:
        blocks.append(note("An A/A control times the same operator on both sides of a ratio, so its true value is 1; "
                           "how far it lands from 1 is the machine's noise floor. A measured ratio closer to 1 than "
                           "the controls' spread says nothing about which side is faster."))
        blocks.append(aa_table(ctx, controls))
    return Section("noise", TITLE, intro, blocks)
