"""The worked example, computed live by every backend while the page is built (poly3, vᵀJ)."""

from __future__ import annotations

import numpy as np

from adcompare.report.blocks import esc
from adcompare.report.example import COTANGENTS, worked_example
from adcompare.report.sections.common import Context, Section

ORDER = 10


def vec(a: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:g}" for v in a) + ")"


def matrix_html(m: np.ndarray) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{v:g}</td>" for v in row) + "</tr>" for row in m)
    return f'<table class="matrix">{rows}</table>'


def build(ctx: Context) -> Section:
    example = worked_example()
    x = vec(example.x)
    intro = (f"<p>The tutorial, as results. At x = {x} the Jacobian of <code>poly3</code> (closed form, left) "
             "gives vᵀJ for two cotangents; each backend below computed the same products with its own "
             "reverse mode <em>while this page was built</em>. ✓ means it matches the closed form to "
             "float64 rounding.</p>")
    maths = (f'<div class="example"><pre class="math">{esc(example.description)}</pre>'
             f'<div><p class="label">J at x = {x}</p>{matrix_html(example.jacobian)}'
             + "".join(f'<p class="label">v = {vec(np.array(v))} → vᵀJ = <b>{vec(e)}</b></p>'
                       for v, e in zip(COTANGENTS, example.expected))
             + "</div></div>")
    head = ("<tr><th>backend</th>" + "".join(
        f"<th>v = {vec(np.array(v))}</th><th></th>" for v in COTANGENTS) + "<th>what it is</th></tr>")
    body = []
    for row in example.rows:
        if row.unavailable:
            body.append(f'<tr class="unavailable"><td><b>{esc(row.backend)}</b></td>'
                        f'<td colspan="{2 * len(COTANGENTS)}">unavailable here: {esc(row.unavailable)}</td>'
                        f"<td>{esc(row.summary)}</td></tr>")
            continue
        cells = []
        for p in row.products:
            value = vec(p.got) if p.got is not None else esc(p.error or "no result")
            mark = '<span class="ok">✓</span>' if p.ok else '<span class="bad">✗</span>'
            cells.append(f'<td class="num">{value}</td><td>{mark}</td>')
        body.append(f"<tr><td><b>{esc(row.backend)}</b></td>{''.join(cells)}<td>{esc(row.summary)}</td></tr>")
    if not example.rows:
        body.append(f'<tr><td colspan="{2 + 2 * len(COTANGENTS)}">no backends are registered</td></tr>')
    tbl = f'<div class="table-wrap"><table class="example-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'
    return Section("example", "The worked example, computed live", intro, [maths, tbl])
