"""The machines behind the numbers: one card each (hardware, threads, commit, the A/A noise floor,
the smoke-test banner), and what could not be read."""

from __future__ import annotations

import math

from adcompare.measure import stats
from adcompare.report import results as R
from adcompare.report import runinfo as info
from adcompare.report.blocks import WARN, esc, note
from adcompare.report.sections.common import QUICK_TEXT, Context, Section

ORDER = 0


def aa_summary(controls: list[R.Measurement]) -> str:
    """'A/A control: 1.004 [0.991, 1.017] over 4 controls; |A/A − 1| ≤ 1.2 %'.

    The A/A control times one operator on both sides of a ratio, so its true value is 1; what it
    measures is the machine's noise floor. Over several controls the summary is their geometric
    mean with a t-interval across controls (`stats.combine`), and the bound is the largest
    |A/A − 1| of any control: a ratio closer to 1 than that is within this machine's noise."""
    if not controls:
        return "not measured"
    worst = max(abs(m.value - 1) for m in controls)
    if len(controls) == 1:
        m = controls[0]
        ci = m.ci
        summary = f"{m.value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else " (no CI)") + " over 1 control"
    else:
        est = stats.combine([math.log(m.value) for m in controls])
        lo, hi = est.ci
        summary = f"{est.value:.3f} [{lo:.3f}, {hi:.3f}] over {len(controls)} controls"
    return f"{summary}; |A/A − 1| ≤ {100 * worst:.1f} %"


def card(ctx: Context, run: R.Run) -> str:
    mine = [m for m in ctx.results.measurements if m.run.machine == run.machine]
    controls = [m for m in mine if m.benchmark == R.AA]
    with_ci = sum(1 for m in mine if m.ci is not None)
    banner = ""
    if any(m.quick for m in mine):
        banner = f'<p class="quick">{WARN} Quick run: these are {QUICK_TEXT}.</p>'
    missing = (f'<p class="nodata">{esc(run.machine_note)}: asv\'s record of this machine (CPU, RAM, OS) is '
               "unknown.</p>") if run.machine_note else ""
    return f"""
<div class="card"><h3>{esc(run.machine)}</h3>{banner}{missing}<dl>
<dt>CPU</dt><dd>{esc(info.cpu(run))} · {esc(info.cores(run))} cores</dd>
<dt>GPU</dt><dd>{esc(info.gpu(run))}</dd>
<dt>RAM</dt><dd>{esc(info.ram(run))}</dd>
<dt>threads</dt><dd>{esc(info.threads(run))}</dd>
<dt>commit</dt><dd><code>{esc(run.short_commit)}</code> · {esc(run.date)}</dd>
<dt>runs</dt><dd>{esc(info.runs_summary(run))}</dd>
<dt>numbers</dt><dd>{len(mine)} measurements, {with_ci} with a 95 % CI</dd>
<dt>A/A control</dt><dd class="aa">{esc(aa_summary(controls))}</dd></dl></div>"""


def problems_note(ctx: Context) -> str:
    """The files that were skipped (with the command that removes each) and the gaps."""
    problems = ctx.results.problems
    if not problems:
        return ""
    items = []
    for p in problems:
        fix = f' Remove it with: <code class="cmd">{esc(p.command)}</code>' if p.remove else ""
        items.append(f"<li><code>{esc(p.path)}</code> {esc(p.message)}.{fix}</li>")
    skipped = sum(1 for p in problems if p.remove)
    head = (f"{skipped} file{'s' * (skipped != 1)} in these results could not be used and {'were' if skipped != 1 else 'was'} "
            "skipped; the page is built from the rest." if skipped else "Some results are incomplete.")
    return f'<div class="nodata problems"><p>{WARN} {head}</p><ul>{"".join(items)}</ul></div>'


def build(ctx: Context) -> Section:
    cards = {}
    for run in ctx.results.latest:
        cards.setdefault(run.machine, card(ctx, run))
    several = len(cards) > 1
    intro = ("These results hold runs from several machines; every chart below puts them side by side, "
             "one panel per machine, on the same axes." if several else
             "These results come from one machine. With runs from several machines (say a CPU box and a "
             "GPU box) under <code>results/</code>, every chart shows them side by side.")
    intro += (" Every figure carries its 95 % confidence interval, from independent processes; the A/A "
              "control is the machine's noise floor, a ratio of one operator with itself.")
    blocks = [problems_note(ctx)] if ctx.results.problems else []
    blocks.append('<div class="cards">' + "".join(cards.values()) + "</div>")
    return Section("machines", "Machines", note(intro), blocks)
