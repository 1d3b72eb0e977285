"""The sparse-Jacobian section from a real quick run on our engine: colour counts beside their
lower bounds, the sparse crossover with its winner, and the set-up cost against a dense Jacobian."""

import re

import pytest

pytest.importorskip("asv")


@pytest.fixture(scope="module")
def section(pipeline):
    """The sparse section of the shared quick run (ba and brusselator on our engine among its problems)."""
    results, _ = pipeline
    html = (results / "html" / "adcompare" / "index.html").read_text(encoding="utf-8")
    return html[html.index('<section id="sparse">'):html.index("</section>", html.index('<section id="sparse">'))]


def rows(html: str) -> list[list[str]]:
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)]


def test_colour_counts_sit_beside_their_lower_bounds(section):
    table = {(r[1], r[2]): r[3:] for r in rows(section) if len(r) == 6}
    # ba: a reprojection row meets 11 camera and 3 point parameters → 14 column colours, the bound itself
    assert table[("ba:156:c=4,o=64,p=16", "fwd")] == ["14", "14", "1.00×"]
    # Brusselator: 6 non-zeros per row; greedy distance-2 colouring needs 10
    assert table[("brusselator:2048:N=32", "fwd")] == ["10", "6", "1.67×"]
    assert "Colours against n" in section


def test_the_sparse_crossover_names_a_winner_only_outside_the_noise(section):
    crossover = [r for r in rows(section) if len(r) == 8 and r[1] == "numpy:cpu"]
    assert {r[2] for r in crossover} == {"ba:156:c=4,o=64,p=16", "brusselator:2048:N=32"}
    for r in crossover:
        assert re.match(r"(forward|reverse) [\d.,]+× \[|tie \(", r[5]), r[5]
    assert "Time against n: dense and sparse, forward and reverse" in section


def test_setup_cost_is_held_against_one_dense_jacobian(section):
    setup = [r for r in rows(section) if len(r) == 7]
    assert {(r[1], r[2]) for r in setup} >= {("ba:156:c=4,o=64,p=16", "fwd"), ("brusselator:2048:N=32", "rev")}
    assert all(r[6] in ("cheaper", "dearer", "tie", "(no CI)") for r in setup)
    assert all(r[3].endswith("s") or "s [" in r[3] for r in setup)      # detection seconds are shown
