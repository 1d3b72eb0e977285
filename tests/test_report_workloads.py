"""The workloads section from a real quick run of two workloads: the derivative/objective lines,
the published reference marks, the forward/reverse table and the sizes that could not run."""

import json

import pytest

from adcompare.report.sections import workloads

pytest.importorskip("asv")


@pytest.fixture(scope="module")
def page(pipeline):
    """The shared quick run (gmm and ode on our engine among its problems) and its page."""
    results, _ = pipeline
    return results, (results / "html" / "adcompare" / "index.html").read_text(encoding="utf-8")


def figures(html: str) -> list[dict]:
    """Every plotly figure of the page, decoded (plotly escapes non-ASCII in its JSON)."""
    out = []
    marker = "Plotly.newPlot("
    start = 0
    while (i := html.find(marker, start)) >= 0:
        j = html.index("[", i)
        data, end = json.JSONDecoder().raw_decode(html[j:])
        out.append(data)
        start = j + end
    return out


def test_lines_of_derivative_over_objective_with_published_marks(page):
    results, html = page
    assert "Workloads: the field" in html
    traces = [t for fig in figures(html) for t in fig]
    names = {t.get("name") for t in traces}
    assert "numpy:cpu" in names
    assert {"published: ADBench Manual (C++)", "published: ADBench Tapenade"} <= names
    manual = next(t for t in traces if t.get("name") == "published: ADBench Manual (C++)")
    assert list(manual["y"])[:3] == [1.88, 2.94, 2.18]
    assert [w for w, *_ in workloads.REFERENCE_MARKS].count("lse") == 2


def test_forward_against_reverse_table_and_skipped_sizes(page):
    results, html = page
    assert "Forward against reverse on the workloads" in html
    row = html[html.index("ode:1000:s=1"):][:600]
    assert "jacobian-fwd" not in row or "forward" in row or "reverse" in row or "tie" in row
    assert any(w in row for w in ("forward", "reverse", "tie"))
    # the main grid times gmm at its main size only (its gradient both ways is the full grid's)
    assert "gmm:1650:N=1000,d=10,k=25" in html
