"""The HTML report: built from a two-machine asv results fixture, checked for the numbers it shows.

The fixture (tests/fixtures/results, written by its generate.py) is in asv 0.6's exact format:
a CPU box and a GPU box, NaN for skipped combinations, one None for a failed one, and the
adcompare environment sidecar next to each results file.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adcompare.errors import UserError
from adcompare.report import build_report
from adcompare.report import crossover, page, runinfo, sections
from adcompare.report.results import CROSSOVER, TIME, load_results

FIXTURE = Path(__file__).parent / "fixtures" / "results"
RESULTS_FILE = "3f9c2a1e-existing-py_usr_bin_python3.11.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """The page, built once through the CLI, which prints the path it wrote."""
    out = tmp_path_factory.mktemp("report") / "html" / "adcompare" / "index.html"
    proc = run_cli("--results", FIXTURE, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    return out, out.read_text(encoding="utf-8")


def raw_value(machine: str, benchmark: str, **params) -> float:
    """A number read straight from the asv JSON, independently of the report's loader:
    `result` is flat over the product of `params`, first parameter slowest."""
    data = json.loads((FIXTURE / machine / RESULTS_FILE).read_text())
    names = json.loads((FIXTURE / "benchmarks.json").read_text())[benchmark]["param_names"]
    result, grid = data["results"][benchmark][:2]
    wanted = tuple(repr(params[n]) for n in names)
    return result[list(itertools.product(*grid)).index(wanted)]


def missing(html: str, *texts: str) -> list[str]:
    """The texts not found in the page (compared as a list: pytest's diff of a 5 MB page is too slow)."""
    return [t for t in texts if t not in html]


def copy_fixture(tmp_path: Path) -> Path:
    dest = tmp_path / "results"
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


# --- reading asv results -------------------------------------------------------------------

def test_loader_reads_both_machines_and_decodes_params():
    res = load_results(FIXTURE)
    assert res.machines == ["cpubox", "gpubox"]
    t = [m for m in res.of(TIME) if m.run.machine == "cpubox" and m.params == {
        "target": "torch:cpu", "dtype": "float64", "case": "square:1000", "operator": "vjp"}]
    assert len(t) == 1
    assert t[0].value == raw_value("cpubox", TIME, target="torch:cpu", dtype="float64", case="square:1000",
                                   operator="vjp")
    assert t[0].unit == "seconds"


def test_run_environment_comes_from_the_sidecar_with_machine_json_as_fallback():
    cpubox, gpubox = load_results(FIXTURE).latest
    assert (runinfo.cpu(cpubox), runinfo.cores(cpubox), runinfo.gpu(cpubox)) == ("AMD EPYC 7B13", "2", "none")
    assert runinfo.gpu(gpubox) == "NVIDIA H100 80GB HBM3 (driver 550.90.07, CUDA 12.4, memory 81559 MiB)"
    assert runinfo.blas_kernel(gpubox) == "openblas SapphireRapids"
    assert runinfo.threads(cpubox).startswith("torch 1, openblas 1, XLA_FLAGS --xla_cpu_multi_thread_eigen=false")
    assert runinfo.versions(gpubox)["autograd"] == "not installed"
    assert runinfo.recorded_at(gpubox) == "2026-11-25 21:00:00 UTC"
    bare = dataclasses.replace(cpubox, env={})
    assert (runinfo.cpu(bare), runinfo.cores(bare)) == ("AMD EPYC 7B13", "2")   # machine.json
    assert (runinfo.gpu(bare), runinfo.blas_kernel(bare), runinfo.grid(bare)) == ("unknown",) * 3


def test_loader_counts_skipped_nan_and_failed_none_apart():
    res = load_results(FIXTURE)
    data = [json.loads((FIXTURE / m / RESULTS_FILE).read_text())["results"][TIME][0] for m in res.machines]
    values = [v for d in data for v in d]
    nan = sum(1 for v in values if isinstance(v, float) and math.isnan(v))
    none = sum(1 for v in values if v is None)
    assert (nan, none) == (res.outcomes[TIME]["skipped"], res.outcomes[TIME]["failed"])
    assert none == 1
    assert res.outcomes[TIME]["ok"] == len(res.of(TIME)) == len(values) - nan - none


def test_only_the_newest_commit_of_a_machine_is_plotted(tmp_path):
    root = copy_fixture(tmp_path)
    older = json.loads((root / "cpubox" / RESULTS_FILE).read_text())
    older["commit_hash"] = "0123456789abcdef" * 2 + "01234567"
    older["date"] -= 86_400_000
    (root / "cpubox" / "01234567-existing-py_usr_bin_python3.11.json").write_text(json.dumps(older))
    res = load_results(root)
    assert len(res.runs) == 3 and len(res.latest) == 2
    assert {m.run.short_commit for m in res.measurements} == {"3f9c2a1e"}


# --- what the page shows -------------------------------------------------------------------

def test_page_is_self_contained_with_plotly_inlined_once(built):
    _, html = built
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()) == 1
    ours = html.replace(get_plotlyjs(), "")
    assert not re.search(r"<script[^>]+src=", ours), "no external scripts"
    assert not re.search(r"""<link|(src|href)=["']?https?:""", ours)


def test_worked_example_is_computed_live_by_the_numpy_backend(built):
    _, html = built
    # The closed-form expectations, and numpy's own row with both products and two ticks.
    assert missing(html, "vᵀJ = <b>(5, 18, 34)</b>", "vᵀJ = <b>(10, 34, 42)</b>") == []
    row = re.search(r"<tr><td><b>numpy</b></td>(.*?)</tr>", html).group(1)
    assert re.findall(r'<td class="num">(\(.*?\))</td>', row) == ["(5, 18, 34)", "(10, 34, 42)"]
    assert row.count('class="ok"') == 2


def test_worked_example_rows_match_the_closed_form():
    from adcompare.report.example import worked_example

    ex = worked_example()
    np.testing.assert_array_equal(ex.expected[0], [5, 18, 34])
    np.testing.assert_array_equal(ex.expected[1], [10, 34, 42])
    numpy_row = next(r for r in ex.rows if r.backend == "numpy")
    assert numpy_row.unavailable is None
    assert [p.got.tolist() for p in numpy_row.products] == [[5, 18, 34], [10, 34, 42]]
    assert all(p.ok for p in numpy_row.products)


def test_crossover_winner_and_factor_come_from_the_fixture_numbers(built):
    _, html = built
    # cpubox, numpy:cpu, affine n = 8, m = 512: many outputs, so forward mode must win.
    kw = dict(target="numpy:cpu", dtype="float64", case="affine:8:m=512")
    t_fwd = raw_value("cpubox", CROSSOVER, operator="jacobian-fwd", **kw)
    t_rev = raw_value("cpubox", CROSSOVER, operator="jacobian-rev", **kw)
    points = crossover.crossover_points(load_results(FIXTURE))
    p = next(p for p in points if (p.machine, p.target, p.dtype, p.family, p.n, p.m) ==
             ("cpubox", "numpy:cpu", "float64", "affine", 8, 512))
    assert (p.t_fwd, p.t_rev) == (t_fwd, t_rev)
    assert p.winner == ("forward" if t_fwd < t_rev else "reverse") == "forward"
    assert p.factor == pytest.approx(t_rev / t_fwd)
    assert missing(html, f'"fwd {crossover.times(t_rev / t_fwd)}"') == []  # the heatmap cell text
    # And at 64:1 (many inputs) reverse wins.
    q = next(p for p in points if (p.machine, p.target, p.dtype, p.family, p.n) ==
             ("cpubox", "numpy:cpu", "float64", "affine", 512))
    assert q.winner == "reverse"


def test_crossover_pairs_loops_with_loops(built):
    """Loop Jacobians pair with loop Jacobians, never with batched ones; autograd, which has
    only loops, is in the crossover through them (the loop view and the summary table)."""
    _, html = built
    kw = dict(target="autograd:cpu", dtype="float64", case="mlp:16:m=256")
    t_fwd = raw_value("cpubox", CROSSOVER, operator="jacobian-fwd-loop", **kw)
    t_rev = raw_value("cpubox", CROSSOVER, operator="jacobian-rev-loop", **kw)
    points = crossover.crossover_points(load_results(FIXTURE))
    auto = [p for p in points if p.target == "autograd:cpu"]
    assert auto and {p.strategy for p in auto} == {"loop"}
    p = next(p for p in auto if (p.machine, p.family, p.dtype, p.n) == ("cpubox", "mlp", "float64", 16))
    assert (p.t_fwd, p.t_rev) == (t_fwd, t_rev) and p.winner == "forward"
    numpy_cells = {(p.strategy, p.t_fwd) for p in points if (p.machine, p.target, p.dtype, p.family, p.n) ==
                   ("cpubox", "numpy:cpu", "float64", "affine", 8)}
    assert numpy_cells == {("batched", raw_value("cpubox", CROSSOVER, operator="jacobian-fwd", target="numpy:cpu",
                                                 dtype="float64", case="affine:8:m=512")),
                           ("loop", raw_value("cpubox", CROSSOVER, operator="jacobian-fwd-loop", target="numpy:cpu",
                                              dtype="float64", case="affine:8:m=512"))}
    assert missing(html, "<tr><td>cpubox</td><td>autograd:cpu</td><td>mlp</td><td>float64</td><td>loop</td>",
                   '"jacobian"', '"loop"', '"batched"') == []


def test_crossover_ratio_interpolates_the_sign_change():
    def pt(n, m, ratio):
        return crossover.CrossPoint("box", "c0ffee00", "numpy:cpu", "float64", "affine", n, m, ratio, 1.0)

    theory = [pt(n, 4096 // n, n / (4096 // n)) for n in (8, 16, 32, 64, 128, 256, 512)]
    assert crossover.crossover_ratio(theory) == pytest.approx(1.0)
    # t_fwd/t_rev = 2·n/m crosses 1 at n/m = 1/2, between the 1:4 and 1:1 cells.
    shifted = [pt(n, 4096 // n, 2 * n / (4096 // n)) for n in (16, 32, 64, 128)]
    assert crossover.crossover_ratio(shifted) == pytest.approx(0.5)
    assert crossover.crossover_ratio([pt(8, 512, 0.1), pt(64, 64, 0.5)]) is None
    assert "forward mode wins everywhere" in crossover.crossover_summary([pt(8, 512, 0.1), pt(64, 64, 0.5)])


def test_machines_are_listed_side_by_side_with_their_environment(built):
    _, html = built
    assert missing(html, "cpubox", "gpubox", "AMD EPYC 7B13", "NVIDIA H100 80GB HBM3", "driver 550.90.07", "openblas Zen",
                   "CUDA 12.4", "SapphireRapids", "2.13.0+cpu", "3f9c2a1e", "gpu-slice",
                   "one column per machine") == []
    # every chart with both machines has both as subplot titles
    assert html.count('"text":"cpubox"') >= 5 and html.count('"text":"gpubox"') >= 5


def test_hover_text_names_machine_and_commit(built):
    _, html = built
    assert missing(html, "machine cpubox · commit 3f9c2a1e", "machine gpubox · commit 3f9c2a1e") == []


def test_sections_and_memory_story_are_present(built):
    _, html = built
    assert missing(html, "The worked example", "Forward vs reverse", "Scaling with n", "Memory", "Cost ratios",
                   "Machines, versions and runs", "0 bytes by construction", "cheap-gradient bound 3–4") == []
    assert html.count('class="nodata"') == 0  # the fixture has every family


def test_tape_memory_grows_with_depth_in_the_chart_data():
    res = load_results(FIXTURE)
    ctx = sections.Context(res, page.Styles([], ["numpy:cpu"]), [])
    sec = sections.memory_section(ctx)
    depth_chart = next(b for b in sec.blocks if isinstance(b, sections.Chart))
    trace = next(t for t, f in zip(depth_chart.fig.data, depth_chart.trace_facets)
                 if f == ("lorenz96, n=128", "float64") and t.name == "numpy:cpu")
    assert list(trace.x) == [1, 5, 10, 20, 40]
    assert all(b > a for a, b in zip(trace.y, trace.y[1:]))
    zero = [t for t, f in zip(depth_chart.fig.data, depth_chart.trace_facets) if f is None]
    assert zero and all(list(t.y) == [0, 0] for t in zero)


def test_missing_families_get_a_short_note_not_an_empty_chart(tmp_path):
    root = copy_fixture(tmp_path)
    for machine in ("cpubox", "gpubox"):
        path = root / machine / RESULTS_FILE
        data = json.loads(path.read_text())
        data["results"] = {k: v for k, v in data["results"].items() if not k.startswith(("memory.", "time_operators.Crossover"))}
        path.write_text(json.dumps(data))
        (root / machine / "adcompare-env-3f9c2a1e.json").unlink()
    out = build_report(root, tmp_path / "index.html")
    html = out.read_text()
    assert missing(html, "No data for the n × m crossover grid", "No data for tape memory",
                   "No data for peak device memory", "Scaling with n", "machine cpubox") == []
    assert html.count('class="nodata"') == 3
    blas_row = re.search(r"<td>BLAS kernel</td>(.*?)</tr>", html).group(1)
    assert blas_row == "<td>unknown</td><td>unknown</td>"


# --- atomic write --------------------------------------------------------------------------

def test_failure_mid_build_leaves_the_previous_page(tmp_path, monkeypatch):
    out = tmp_path / "index.html"
    out.write_text("previous page")

    def broken(ctx):
        raise RuntimeError("chart failed")

    monkeypatch.setattr(sections, "ratios_section", broken)
    with pytest.raises(RuntimeError, match="chart failed"):
        build_report(FIXTURE, out)
    assert out.read_text() == "previous page"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_failure_while_writing_leaves_the_previous_page(tmp_path, monkeypatch):
    out = tmp_path / "index.html"
    out.write_text("previous page")

    def no_rename(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(page.os, "replace", no_rename)
    with pytest.raises(OSError, match="disk full"):
        page.write_atomically("<html>new</html>", out)
    assert out.read_text() == "previous page"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


# --- bad input through the CLI -------------------------------------------------------------

# The real `adcompare` parser and error handling, restricted to this one subcommand.
CLI = ("import sys; from adcompare import cli; cli.COMMANDS = {'report': 'adcompare.report'}; "
       "sys.exit(cli.main(sys.argv[1:]))")


def run_cli(*args):
    return subprocess.run([sys.executable, "-c", CLI, "report", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("setup, message", [
    ("missing", "does not exist"),
    ("empty", "no asv results in"),
    ("corrupt", "corrupt results file"),
    ("truncated", "corrupt results file"),
    ("not-asv", "not an asv results file"),
])
def test_bad_results_give_one_line_and_exit_2_and_keep_the_old_page(tmp_path, setup, message):
    results = tmp_path / "results"
    if setup != "missing":
        results.mkdir()
    if setup in ("corrupt", "truncated", "not-asv"):
        (results / "box").mkdir()
        (results / "box" / "machine.json").write_text('{"machine": "box", "version": 1}')
        body = {"corrupt": "{not json", "truncated": (FIXTURE / "cpubox" / RESULTS_FILE).read_text()[:5000],
                "not-asv": '{"hello": 1}'}[setup]
        (results / "box" / "abcdef12-env.json").write_text(body)
    out = tmp_path / "html" / "index.html"
    out.parent.mkdir()
    out.write_text("previous page")
    proc = run_cli("--results", results, "--out", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adcompare: error:") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_text() == "previous page"


def test_cli_defaults_are_results_and_its_html_folder():
    from adcompare.report.command import DEFAULT_OUT, DEFAULT_RESULTS

    assert DEFAULT_RESULTS == Path("results")
    assert DEFAULT_OUT == Path("results/html/adcompare/index.html")
    with pytest.raises(UserError, match="does not exist"):
        load_results(Path("/nonexistent/results"))


def test_each_view_has_one_legend_entry_per_target_across_machine_columns():
    res = load_results(FIXTURE)
    ctx = sections.Context(res, page.Styles([], ["numpy:cpu"]), [])
    chart = sections.scaling_section(ctx).blocks[0]
    views: dict[tuple, list] = {}
    for trace, facets in zip(chart.fig.data, chart.trace_facets):
        views.setdefault(facets, []).append(trace)
    assert len(views) > 20   # problems × operators × dtypes, one menu entry each
    for facets, traces in views.items():
        legend = [t.name for t in traces if t.showlegend]
        assert sorted(legend) == sorted({t.name for t in traces}), facets
    # the first view is the one the menus show: vjp in float64
    assert chart.default[1:] == ("vjp", "float64")
    assert all(t.visible == (f == chart.default) for t, f in zip(chart.fig.data, chart.trace_facets))


def test_size_ticks_are_the_measured_sizes_without_overlap():
    assert sections.spaced([8, 10, 64, 128, 1000, 4096, 10000, 100000]) == [8, 64, 128, 1000, 4096, 10000, 100000]
    assert [sections.size_label(x) for x in (8, 4096, 10000, 100000, 2_000_000)] == ["8", "4096", "10k", "100k", "2M"]


def test_two_environments_at_one_commit_give_one_number_per_combination(tmp_path):
    root = copy_fixture(tmp_path)
    other = json.loads((root / "cpubox" / RESULTS_FILE).read_text())
    other["env_name"] = "virtualenv-py3.11"
    for row in other["results"].values():
        row[3] += 3_600_000                       # started an hour later
        row[0] = [v * 2 if isinstance(v, float) else v for v in row[0]]
    (root / "cpubox" / "3f9c2a1e-virtualenv-py3.11.json").write_text(json.dumps(other))
    res = load_results(root)
    base = load_results(FIXTURE)
    assert len(res.latest) == 3 and len(res.measurements) == len(base.measurements)
    kw = dict(target="numpy:cpu", dtype="float64", case="square:10", operator="vjp")
    [m] = [m for m in res.of(TIME) if m.run.machine == "cpubox" and m.params == kw]
    assert m.run.env_name == "virtualenv-py3.11" and m.value == 2 * raw_value("cpubox", TIME, **kw)


def test_without_plotly_the_cli_says_what_to_install(tmp_path):
    no_plotly = "import sys; sys.modules['plotly'] = None; " + CLI
    proc = subprocess.run([sys.executable, "-c", no_plotly, "report", "--results", str(FIXTURE),
                           "--out", str(tmp_path / "index.html")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "adcompare: error: the report needs plotly: python3 -m pip install plotly"
    assert not (tmp_path / "index.html").exists()


def test_scaling_lines_join_sizes_whose_options_follow_n():
    """affine's m defaults to n: affine:10:m=10 and affine:1000:m=1000 are one line, 'affine, m=n';
    an explicit m that differs from n names its own line."""
    from adcompare.report.sections import scaling_family

    assert scaling_family("affine", 10, {"m": 10}) == scaling_family("affine", 1000, {"m": 1000}) == "affine, m=n"
    assert scaling_family("mlp", 100, {"hidden": 64, "m": 7}) == "mlp, hidden=64, m=7"
    assert scaling_family("lorenz96", 8, {"steps": 10}) == "lorenz96, steps=10"
