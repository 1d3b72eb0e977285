"""The page: one self-contained HTML file (plotly.js inlined once, no network), written atomically.

`build_report` is the public entry point (`adcompare report` and `adcompare run` call it): refuse
an output path that would overwrite results, read the results (naming each file it had to skip on
stderr), lay out the sections that `adcompare.report.sections` discovers, then write to a
temporary file in the target directory and `os.replace` it over the old page, so a failure at any
point leaves the previous page as it was.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from adcompare.backends import backend_names
from adcompare.errors import UserError
from adcompare.store.files import write_atomically
from adcompare.report import sections as S
from adcompare.report.blocks import GPU_DEVICES, Chart, Styles, esc, safe_figure, split_target
from adcompare.report.results import PAGES_FOLDER, ResultSet, load_results

PLOT_CONFIG = {"responsive": True, "displaylogo": False, "toImageButtonOptions": {"scale": 2},
               "modeBarButtonsToRemove": ["lasso2d", "select2d"]}

CSS = """
:root { --fg:#111827; --muted:#4b5563; --line:#e5e7eb; --bg:#ffffff; --panel:#f9fafb; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header { background:#0f172a; color:#f8fafc; padding:28px 0 22px; }
header .wrap, main, footer { max-width:1500px; margin:0 auto; padding:0 28px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:650; letter-spacing:-.01em; }
header p { margin:2px 0; color:#cbd5e1; }
header code { color:#e2e8f0; }
nav { margin-top:14px; display:flex; flex-wrap:wrap; gap:6px 8px; }
nav a { color:#e2e8f0; text-decoration:none; border:1px solid #334155; border-radius:999px; padding:3px 12px; font-size:13px; }
nav a:hover { background:#1e293b; }
.key { display:flex; flex-wrap:wrap; gap:6px 18px; margin-top:14px; font-size:13px; color:#cbd5e1; }
.key span.sw { display:inline-block; width:22px; height:4px; border-radius:2px; vertical-align:middle; margin-right:6px; }
section { padding:26px 0 8px; border-bottom:1px solid var(--line); }
section:last-of-type { border-bottom:0; }
h2 { font-size:21px; margin:0 0 8px; letter-spacing:-.01em; }
h3 { font-size:16px; margin:22px 0 6px; }
p { margin:6px 0 10px; max-width:980px; }
.note { color:var(--muted); font-size:14px; }
.nodata { color:#92400e; background:#fffbeb; border:1px solid #fde68a; border-radius:6px; padding:8px 12px; font-size:14px; max-width:980px; }
.chart { margin:12px 0 18px; border:1px solid var(--line); border-radius:10px; padding:10px 12px 4px; background:#fff; }
.controls { display:flex; flex-wrap:wrap; gap:8px 18px; align-items:center; font-size:14px; margin-bottom:4px; }
.controls label { color:var(--muted); }
.controls select { font:inherit; padding:3px 8px; border:1px solid #cbd5e1; border-radius:6px; background:#fff; margin-left:6px; }
.chart .caption { color:var(--muted); font-size:13px; margin:2px 0 6px; }
.chart .empty { color:#92400e; font-size:14px; margin:4px 0; }
.table-wrap { overflow:auto; max-height:560px; border:1px solid var(--line); border-radius:8px; margin:8px 0 14px; }
table { border-collapse:collapse; font-size:13.5px; width:100%; }
th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { position:sticky; top:0; background:var(--panel); font-weight:600; z-index:1; }
tbody tr:hover { background:#f3f4f6; }
table.compact td, table.compact th { padding:4px 9px; white-space:nowrap; }
table.runs td { white-space:normal; } table.runs td:first-child { color:var(--muted); white-space:nowrap; width:1%; }
td.num { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; }
.ok { color:#15803d; font-weight:700; } .bad { color:#b91c1c; font-weight:700; }
tr.unavailable td { color:var(--muted); }
.within { color:#15803d; font-weight:600; } .above { color:#b45309; font-weight:600; } .na { color:#9ca3af; }
.straddles { color:#6b7280; font-weight:600; }
.fwd { color:#2166ac; font-weight:600; } .rev { color:#b2182b; font-weight:600; }
.quick { color:#7c2d12; background:#ffedd5; border:1px solid #fdba74; border-radius:6px; padding:6px 10px; font-size:14px; max-width:980px; }
.problems ul { margin:4px 0 2px; padding-left:20px; } .problems li { margin:2px 0; }
dl.flags { display:grid; grid-template-columns:auto 1fr; gap:2px 12px; font-size:14px; max-width:980px; }
dl.flags dd { margin:0; color:var(--muted); }
.example { display:flex; flex-wrap:wrap; gap:18px 40px; align-items:flex-start; margin:10px 0; }
pre.math { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:0; font-size:13.5px; line-height:1.45; }
table.matrix { width:auto; border-left:2px solid var(--fg); border-right:2px solid var(--fg); font-family:ui-monospace,monospace; }
table.matrix td { border:0; padding:2px 12px; text-align:right; }
p.label { margin:8px 0 4px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); gap:14px; margin:8px 0 12px; }
.card { border:1px solid var(--line); border-radius:10px; padding:12px 16px; background:var(--panel); }
.card h3 { margin:0 0 6px; }
.card dl { display:grid; grid-template-columns:auto 1fr; gap:2px 12px; margin:0; font-size:14px; }
.card dt { color:var(--muted); } .card dd { margin:0; }
details { margin:8px 0; } summary { cursor:pointer; color:var(--accent); font-size:14px; }
footer { color:var(--muted); font-size:13px; padding:18px 28px 30px; }
"""

JS = """
(function () {
  function apply(box) {
    var div = box.querySelector('.plotly-graph-div');
    var facets = JSON.parse(box.getAttribute('data-trace-facets'));
    var chosen = Array.prototype.map.call(box.querySelectorAll('select'), function (s) { return s.value; });
    var visible = facets.map(function (f) {
      return f === null || f.every(function (v, i) { return v === chosen[i]; });
    });
    Plotly.restyle(div, {visible: visible});
    var any = facets.some(function (f, i) { return f !== null && visible[i]; });
    box.querySelector('.empty').hidden = any;
  }
  document.querySelectorAll('.chart[data-trace-facets]').forEach(function (box) {
    box.querySelectorAll('select').forEach(function (s) {
      s.addEventListener('change', function () { apply(box); });
    });
  });
})();
"""


def chart_html(chart: Chart, div_id: str) -> str:
    controls = ""
    if chart.facet_names:
        menus = []
        for i, (name, values) in enumerate(zip(chart.facet_names, chart.facet_values)):
            chosen = chart.default[i] if chart.default else None
            options = "".join(f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>'
                              for v in values)
            menus.append(f'<label>{esc(name)}<select aria-label="{esc(name)}">{options}</select></label>')
        controls = f'<div class="controls">{"".join(menus)}</div>'
    facets = json.dumps([list(f) if f is not None else None for f in chart.trace_facets])
    figure = pio.to_html(safe_figure(chart.fig.to_dict()), full_html=False, include_plotlyjs=False, div_id=div_id,
                         config=PLOT_CONFIG, validate=False)
    caption = f'<p class="caption">{chart.caption}</p>' if chart.caption else ""
    return (f'<div class="chart" data-trace-facets="{esc(facets)}">{controls}{figure}{caption}'
            '<p class="empty" hidden>No data for this combination; pick another.</p></div>')


def section_html(section: S.Section, number: int, counter: list[int]) -> str:
    parts = [f'<section id="{esc(section.id)}"><h2>{number} · {esc(section.title)}</h2>', section.intro]
    for block in section.blocks:
        if isinstance(block, Chart):
            counter[0] += 1
            parts.append(chart_html(block, f"chart-{section.id}-{counter[0]}"))
        else:
            parts.append(block)
    parts.append("</section>")
    return "".join(parts)


def colour_key(styles: Styles, targets: list[str]) -> str:
    measured = {split_target(t)[0] for t in targets}
    chips = [f'<span><span class="sw" style="background:{c}"></span>{esc(b)}</span>'
             for b, c in styles.colours.items() if b in measured]
    chips.append(f"<span>solid line / circle = CPU, dashed / diamond = {'/'.join(GPU_DEVICES)}; "
                 "hollow = flagged noisy; error bars = 95 % CI</span>")
    return f'<div class="key">{"".join(chips)}</div>'


def asv_pages_note(results_dir: Path, out: Path) -> str:
    """Where asv's own pages are, relative to this page when `asv publish` has written them."""
    pages = results_dir / "html" / "index.html"
    if not pages.is_file():
        return "asv's own per-benchmark history pages are written by <code>asv publish</code>."
    link = os.path.relpath(pages.resolve(), out.resolve().parent)
    return (f'asv\'s own per-benchmark history pages: <a href="{esc(link)}">{esc(link)}</a> '
            "(they need <code>asv preview</code>: they load their data over HTTP).")


def render(results: ResultSet, results_dir: Path, out: Path) -> str:
    """The whole page as one string (nothing is written here)."""
    order = backend_names()
    targets = [str(m.get("target")) for m in results.measurements if m.get("target")]
    styles = Styles(order, targets + [f"{name}:cpu" for name in order])
    ctx = S.Context(results, styles, order)
    sections = [module.build(ctx) for module in S.modules()]
    counter = [0]
    body = "".join(section_html(s, i, counter) for i, s in enumerate(sections, start=1))
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    commits = ", ".join(dict.fromkeys(f"{r.machine} @ {r.short_commit}" for r in results.latest))
    built = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>adcompare — forward vs reverse mode AD</title>
<style>{CSS}</style>
<script>{get_plotlyjs()}</script>
</head><body>
<header><div class="wrap">
<h1>adcompare — forward vs reverse mode AD</h1>
<p>Jacobian products across backends, measured with asv; every figure with its 95 % confidence interval
over independent processes. Built {esc(built)} from <code>{esc(results_dir)}</code>:
{esc(commits)}.</p>
{colour_key(styles, targets)}
<nav>{nav}</nav>
</div></header>
<main>{body}</main>
<footer>Generated by <code>adcompare report</code>. Self-contained: opens from disk, needs no network.
{asv_pages_note(results_dir, out)}</footer>
<script>{JS}</script>
</body></html>
"""


def check_out(out: Path, results_dir: Path) -> None:
    """Refuse a page path that would overwrite results: a directory, an existing .json file, or
    anything inside the results folder other than under its html/ folder (asv's published pages)."""
    target, results = out.resolve(), results_dir.resolve()
    if target.is_dir():
        raise UserError(f"--out {out} is an existing directory; give the page's file name, e.g. {out / 'index.html'}")
    if target.suffix.lower() == ".json" and target.exists():
        raise UserError(f"--out {out} is an existing .json file (results data); give an .html path")
    if target.is_relative_to(results) and not target.is_relative_to(results / PAGES_FOLDER):
        raise UserError(f"--out {out} is inside the results data {results_dir}; write the page under "
                        f"{results_dir / PAGES_FOLDER} or outside {results_dir}")


def build_report(results_dir: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Build the self-contained HTML report from a results directory; returns the page's path.
    Each file skipped or incomplete is named in one line on stderr (and on the page)."""
    out, root = Path(out_path), Path(results_dir)
    check_out(out, root)
    results = load_results(root)
    for problem in results.problems:
        print(problem.line(), file=sys.stderr)
    write_atomically(out, render(results, root, out))
    return out
