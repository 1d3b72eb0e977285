"""The HTML report: built from a two-machine results fixture, checked for what a reader sees.

The fixture (tests/fixtures/results, written by its generate.py) is in asv 0.6's exact format,
with adcompare's figures file (value, 95 % CI, flags per figure) and environment sidecar beside
each results file: a CPU box with a full run (4 processes per figure) and a GPU box with a quick
run (one process, no CIs). The oracles are the fixture's own files, read here independently of
the report's loader, and `adcompare.measure.stats` for the derived CIs.

Text is compared after decoding the figures' JSON from the page (plotly writes non-ASCII as
\\uXXXX, and plotly ≥ 6 writes numeric arrays as base64), or on the Chart objects, never by
searching the raw page for serialised text.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import importlib.util
import itertools
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import once_per_session

import adcompare
from adcompare.measure import numbers, stats
from adcompare.errors import UserError
from adcompare.report import blocks, build_report, command, crossover, page, runinfo
from adcompare.report import sections as S
from adcompare.report.results import AA, CROSSOVER, FIRST_CALL, RATIO, TIME, load_results
from adcompare.report.sections import compile as compile_section
from adcompare.report.sections import crossover as crossover_section
from adcompare.report.sections import machines as machines_section
from adcompare.report.sections import memory, noise, ratios, scaling
from adcompare.report.sections.charts import size_label, spaced


FIXTURE = Path(__file__).parent / "fixtures" / "results"
RESULTS_FILE = "3f9c2a1e-existing-py_usr_bin_python3.11.json"
FIGURES_FILE = "adcompare-figures-3f9c2a1e.json"
OWN_TAGS = {"b", "/b", "i", "/i", "br", "sub", "/sub", "sup", "/sup", "extra", "/extra"}


def _generator():
    spec = importlib.util.spec_from_file_location("fixture_generate", FIXTURE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generator()


# --- reading the fixture and the page, independently of the report ------------------------

def raw_value(machine: str, benchmark: str, **params) -> float:
    """asv's number, straight from the asv JSON: `result` is flat over the product of `params`,
    first parameter slowest."""
    data = json.loads((FIXTURE / machine / RESULTS_FILE).read_text())
    names = json.loads((FIXTURE / "benchmarks.json").read_text())[benchmark]["param_names"]
    result, grid = data["results"][benchmark][:2]
    wanted = tuple(repr(params[n]) for n in names)
    return result[list(itertools.product(*grid)).index(wanted)]


def raw_figures(machine: str, benchmark: str | None = None) -> list[dict]:
    records = json.loads((FIXTURE / machine / FIGURES_FILE).read_text())["figures"]
    return [r for r in records if benchmark is None or r["benchmark"] == benchmark]


def raw_figure(machine: str, benchmark: str, **params) -> dict:
    [record] = [r for r in raw_figures(machine, benchmark) if r["params"] == params]
    return record


def estimate(record: dict) -> stats.Estimate:
    return stats.Estimate(math.log(record["value"]), record["log_se"], record["df"], record["processes"])


def decode_arrays(node):
    """plotly ≥ 6 writes numeric arrays as {"dtype", "bdata"}: back to plain lists."""
    if isinstance(node, dict):
        if set(node) >= {"dtype", "bdata"}:
            values = np.frombuffer(base64.b64decode(node["bdata"]), dtype=np.dtype(node["dtype"]))
            return values.reshape(node["shape"]).tolist() if "shape" in node else values.tolist()
        return {k: decode_arrays(v) for k, v in node.items()}
    if isinstance(node, list):
        return [decode_arrays(v) for v in node]
    return node


def page_figures(html: str) -> dict[str, dict]:
    """Every figure on the page as {div id: {"data": [...], "layout": {...}}}, decoded from the
    arguments of its Plotly.newPlot call."""
    decoder = json.JSONDecoder()
    figures = {}
    for match in re.finditer(r"Plotly\.newPlot\(\s*(?=\")", html):   # our calls: a div id first, not plotly.js's own
        div, i = decoder.raw_decode(html, match.end())
        args = []
        for _ in range(2):
            while html[i] in ", \n\t\r":
                i += 1
            value, i = decoder.raw_decode(html, i)
            args.append(decode_arrays(value))
        figures[div] = {"data": args[0], "layout": args[1]}
    return figures


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def figure_text(figure: dict) -> list[str]:
    """What plotly can render as text: every string in the traces and the layout (titles, ticks,
    annotations), the template aside."""
    layout = {k: v for k, v in figure["layout"].items() if k != "template"}
    return list(strings(figure["data"])) + list(strings(layout))


def live_tags(text: str) -> list[str]:
    """Tags plotly would render that this report did not write itself."""
    return [t for t in re.findall(r"<\s*(/?[a-zA-Z]+)", text) if t.lower() not in OWN_TAGS]


def html_outside_figures(html: str) -> str:
    from plotly.offline import get_plotlyjs

    return re.sub(r"<script.*?</script>", "", html.replace(get_plotlyjs(), ""), flags=re.S)


def copy_fixture(tmp_path: Path) -> Path:
    return generate.copy_tree(tmp_path / "results")


def context(res=None) -> S.Context:
    res = res or load_results(FIXTURE)
    return S.Context(res, blocks.Styles(["numpy"], ["numpy:cpu"]), ["numpy", "autograd", "torch", "jax", "jax-jit"])


def charts(section) -> list[blocks.Chart]:
    return [b for b in section.blocks if isinstance(b, blocks.Chart)]


def traces(chart: blocks.Chart, machine: str, facets: tuple | None, name: str | None = None) -> list:
    return [t for t, f, c in zip(chart.fig.data, chart.trace_facets, chart.trace_columns)
            if c == machine and f == facets and (name is None or t.name == name)]


# The real `adcompare` parser and error handling, restricted to this one subcommand.
CLI = ("import sys; from adcompare import cli; cli.COMMANDS = {'report': 'adcompare.report'}; "
       "sys.exit(cli.main(sys.argv[1:]))")


# The same, with the worked example (which imports every framework) left out, for the tests about
# what the command says rather than what the page shows.
NO_EXAMPLE = ("import adcompare.report.sections.example as ex, adcompare.report.sections.common as c; "
              "ex.build = lambda ctx: c.Section('example', 'left out', ''); ")


def run_cli(*args, cwd=None, example=True):
    code = CLI if example else NO_EXAMPLE + CLI
    return subprocess.run([sys.executable, "-c", code, "report", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[Path, str]:
    """The page, built once per test session through the CLI, which prints the path it wrote."""
    def make(folder):
        out = folder / "html" / "adcompare" / "index.html"
        proc = run_cli("--results", FIXTURE, "--out", out)
        return {"out": str(out), "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
    _, answer = once_per_session(tmp_path_factory, "report-page", make)
    assert answer["returncode"] == 0, answer["stderr"]
    assert answer["stdout"].strip() == answer["out"]
    assert answer["stderr"] == ""    # the fixture has nothing to complain about
    out = Path(answer["out"])
    return out, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def figures(built) -> dict[str, dict]:
    return page_figures(built[1])


@pytest.fixture(scope="module")
def section():
    """Each section of the fixture's page, built once: section("scaling") -> Section."""
    ctx, cache = context(), {}
    modules = {"scaling": scaling, "ratios": ratios, "crossover": crossover_section, "memory": memory,
               "compile": compile_section}

    def get(name):
        if name not in cache:
            cache[name] = modules[name].build(ctx)
        return cache[name]
    return get


# --- reading results and figures -----------------------------------------------------------

def test_loader_shows_the_figures_value_where_recorded_and_asvs_where_not():
    res = load_results(FIXTURE)
    assert res.machines == ["cpubox", "gpubox"]
    kw = {"target": "torch:cpu", "dtype": "float64", "case": "square:1000", "operator": "vjp"}
    [m] = [m for m in res.of(TIME) if m.run.machine == "cpubox" and m.params == kw]
    record = raw_figure("cpubox", TIME, **kw)
    assert m.value == record["value"] != raw_value("cpubox", TIME, **kw)   # geometric mean, not asv's median
    assert m.ci == tuple(record["ci"]) and m.unit == "seconds"
    # cpubox's first-call times predate the figures file: asv's number, no CI recorded
    first = {"target": "torch:cpu", "case": "square:1000", "operator": "vjp"}
    [f] = [m for m in res.of(FIRST_CALL) if m.run.machine == "cpubox" and m.params == first]
    assert f.figure is None and f.ci is None and f.value == raw_value("cpubox", FIRST_CALL, **first)
    assert blocks.fmt_measured(f).endswith("(no CI recorded)")


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


def test_ram_is_read_as_bytes_as_asv_writes_it():
    """asv's machine.json `ram` is util.get_memsize(): MemTotal × 1024, in bytes."""
    cpubox = load_results(FIXTURE).latest[0]
    known = {"25276514304": "23.5 GiB",            # the reference machine: 24684096 kB of MemTotal
             str(8 * 2**30): "8.0 GiB", "8336621568": "7.8 GiB", "": "unknown", None: "unknown"}
    for ram, shown in known.items():
        assert runinfo.ram(dataclasses.replace(cpubox, machine_info={"ram": ram})) == shown


def test_sidecar_runs_old_and_new_forms():
    cpubox, gpubox = load_results(FIXTURE).latest
    records = runinfo.run_records(cpubox)
    assert [r["id"] for r in records] == ["20261125T190900Z-4821", "20261125T204500Z-5120"]
    assert records[1]["selection"] == "--bench Crossover" and records[0]["quick"] == "full"
    [old] = runinfo.run_records(gpubox)                   # one "run" object, asv_status for status
    assert (old["quick"], old["status"], old["combinations"]) == ("quick (smoke test)", "0", "512")
    assert (cpubox.quick, gpubox.quick) == (False, True)


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


def test_two_environments_at_one_commit_give_one_number_per_combination(tmp_path):
    root = copy_fixture(tmp_path)
    other = json.loads((root / "cpubox" / RESULTS_FILE).read_text())
    other["env_name"] = "virtualenv-py3.11"
    for row in other["results"].values():
        row[3] += 3_600_000                       # started an hour later
    (root / "cpubox" / "3f9c2a1e-virtualenv-py3.11.json").write_text(json.dumps(other))
    res = load_results(root)
    base = load_results(FIXTURE)
    assert len(res.latest) == 3 and len(res.measurements) == len(base.measurements)
    kw = dict(target="numpy:cpu", dtype="float64", case="square:10", operator="vjp")
    [m] = [m for m in res.of(TIME) if m.run.machine == "cpubox" and m.params == kw]
    assert m.run.env_name == "virtualenv-py3.11" and m.value == raw_figure("cpubox", TIME, **kw)["value"]


def test_a_partial_figures_file_leaves_the_rest_without_ci(tmp_path):
    root = copy_fixture(tmp_path)
    path = root / "cpubox" / FIGURES_FILE
    data = json.loads(path.read_text())
    kept = [r for r in data["figures"] if r["benchmark"] != TIME]
    data["figures"] = kept + [{"benchmark": TIME}, "not a record"]        # two malformed records
    path.write_text(json.dumps(data))
    res = load_results(root)
    cpu_times = [m for m in res.of(TIME) if m.run.machine == "cpubox"]
    assert cpu_times and all(m.figure is None for m in cpu_times)
    assert all(m.ci is not None for m in res.of(RATIO) if m.run.machine == "cpubox")
    [problem] = res.problems
    assert problem.path == path and "2 malformed figure records ignored" in problem.message and not problem.remove


# --- uncertainty, where a reader sees it ---------------------------------------------------

def test_scaling_error_bars_are_the_fixture_cis(section):
    chart = charts(section("scaling"))[0]
    [trace] = traces(chart, "cpubox", ("square", "vjp", "float64"), "numpy:cpu")
    records = [raw_figure("cpubox", TIME, target="numpy:cpu", dtype="float64", case=f"square:{n}", operator="vjp")
               for n in (10, 1000, 100000)]
    assert list(trace.x) == [10, 1000, 100000]
    assert list(trace.y) == [r["value"] for r in records]
    assert list(trace.error_y.array) == pytest.approx([r["ci"][1] - r["value"] for r in records])
    assert list(trace.error_y.arrayminus) == pytest.approx([r["value"] - r["ci"][0] for r in records])
    assert f"{numbers.fmt_interval(records[1]['value'], records[1]['ci'], 'seconds')} · 95 % CI over 4 processes" \
        in trace.text[1]
    # the quick box has no CIs: no error bars, and the hover says why
    [quick] = traces(chart, "gpubox", ("square", "vjp", "float64"), "torch:cpu")
    assert set(quick.error_y.array) == {None} and "(no CI: one process)" in quick.text[0]


def test_format_of_a_value_with_its_ci():
    assert numbers.fmt_interval(4.02e-6, (3.9e-6, 4.1e-6), "seconds") == "4.02 µs [3.90, 4.10]"
    assert numbers.fmt_interval(0.0376, (0.0351, 0.0403), "ratio") == "0.0376× [0.0351, 0.0403]"
    assert numbers.fmt_interval(8192.0, (8192.0, 8192.0), "bytes") == "8.19 kB (exact)"
    assert numbers.fmt_interval(1.07e-3, None, "seconds") == "1.07 ms (no CI)"


def test_slope_of_every_scaling_line_carries_its_ci(section):
    chart = charts(section("scaling"))[0]
    [trace] = traces(chart, "cpubox", ("rosenbrock", "vjp", "float64"), "torch:cpu")
    records = [raw_figure("cpubox", TIME, target="torch:cpu", dtype="float64", case=f"rosenbrock:{n}",
                          operator="vjp") for n in (10, 1000, 100000)]
    slope, (lo, hi) = stats.loglog_slope([10, 1000, 100000], [estimate(r) for r in records])
    expected = f"log–log slope {slope:.2f} [{lo:.2f}, {hi:.2f}]"
    assert all(expected in text for text in trace.text)
    table = next(b for b in section("scaling").blocks if isinstance(b, str) and "slopes" in b)
    row = re.search(r"<tr><td>cpubox</td><td>torch:cpu</td><td>rosenbrock</td><td>vjp</td><td>float64</td>(.*?)</tr>",
                    table).group(1)
    assert f"<td>{slope:.2f}</td><td>[{lo:.2f}, {hi:.2f}]</td>" in row


def test_cost_ratio_bars_and_table_carry_the_fixture_cis(section):
    chart = charts(section("ratios"))[0]
    [bars] = traces(chart, "cpubox", ("vjp", "float64"), "torch:cpu")
    cases = ["square:1000", "rosenbrock:1000", "lorenz96:128:steps=10", "affine:64:m=64"]
    records = [raw_figure("cpubox", RATIO, target="torch:cpu", dtype="float64", case=c, operator="vjp") for c in cases]
    assert list(bars.y) == [r["value"] for r in records]
    assert list(bars.error_y.array) == pytest.approx([r["ci"][1] - r["value"] for r in records])
    assert list(bars.error_y.arrayminus) == pytest.approx([r["value"] - r["ci"][0] for r in records])
    html = "".join(b for b in section("ratios").blocks if isinstance(b, str))
    r = records[0]
    assert blocks.esc(numbers.fmt_interval(r["value"], tuple(r["ci"]), "ratio")) in html
    # and the hover names the two arms the ratio came from, each with its CI
    assert "primal " + numbers.fmt_interval(r["parts"]["primal"]["value"], r["parts"]["primal"]["ci"], "seconds") \
        in bars.text[0]


def test_crossover_cell_whose_ci_contains_one_is_a_tie(section):
    record = raw_figure("cpubox", CROSSOVER, target="numpy:cpu", dtype="float64", case="affine:64:m=64",
                        strategy="batched")
    assert record["ci"][0] <= 1 <= record["ci"][1]          # the fixture's tie
    heat = charts(section("crossover"))[0]
    win, tie = traces(heat, "cpubox", ("affine", "float64", "batched"))
    row, col = list(tie.y).index("numpy:cpu"), list(tie.x).index("1:1")
    assert tie.text[row][col] == "tie" and tie.z[row][col] == 0
    assert tie.colorscale[0][1] == crossover_section.TIE_COLOUR and win.coloraxis == "coloraxis"
    assert win.z[row][col] is None and win.text[row][col] == ""
    # a clear win next to it: forward at 1:64, by the fixture's factor
    win_record = raw_figure("cpubox", CROSSOVER, target="numpy:cpu", dtype="float64", case="affine:8:m=512",
                            strategy="batched")
    assert not stats.is_tie(win_record["ci"])
    assert win.text[row][list(win.x).index("1:64")] == f"fwd {numbers.times(1 / win_record['value'])}"
    # the summary counts the tie as a tie
    point = next(p for p in crossover.crossover_points(load_results(FIXTURE))
                 if (p.machine, p.target, p.family, p.dtype, p.strategy, p.n) ==
                 ("cpubox", "numpy:cpu", "affine", "float64", "batched", 64))
    assert point.verdict == "tie"
    summary = section("crossover").blocks[-1]
    cells = re.search(r"<tr><td>cpubox</td><td>numpy:cpu</td><td>affine</td><td>float64</td><td>batched</td>"
                      r"<td>(\d+) / (\d+) / (\d+)</td>", summary).groups()
    verdicts = [("forward" if r["ci"][1] < 1 else "reverse" if r["ci"][0] > 1 else "tie")
                for r in raw_figures("cpubox", CROSSOVER) if r["params"]["target"] == "numpy:cpu"
                and r["params"]["dtype"] == "float64" and r["params"]["strategy"] == "batched"
                and r["params"]["case"].startswith("affine:")]
    assert tuple(int(c) for c in cells) == (verdicts.count("forward"), verdicts.count("tie"), verdicts.count("reverse"))
    assert verdicts.count("tie") >= 1


def series_records(target: str, family: str, strategy: str = "batched") -> list[dict]:
    return [r for r in raw_figures("cpubox", CROSSOVER) if r["params"]["target"] == target
            and r["params"]["dtype"] == "float64" and r["params"]["strategy"] == strategy
            and r["params"]["case"].startswith(family + ":")]


def aspect(record: dict) -> float:
    _, n, m = re.fullmatch(r"(\w+):(\d+):m=(\d+)", record["params"]["case"]).groups()
    return int(n) / int(m)


def test_crossover_point_and_its_ci_come_from_stats_crossover(section):
    def summary_cell(target, family):
        summary = section("crossover").blocks[-1]
        return re.search(rf"<tr><td>cpubox</td><td>{re.escape(target)}</td><td>{family}</td><td>float64</td>"
                         r"<td>batched</td>(?:<td>.*?</td>){3}<td>(.*?)</td></tr>", summary).group(1)

    # torch crosses inside the grid with both bounds closed
    records = series_records("torch:cpu", "affine")
    expected = stats.crossover([aspect(r) for r in records], [estimate(r) for r in records])
    assert expected.point is not None and expected.low is not None and expected.high is not None
    cell = summary_cell("torch:cpu", "affine")
    label = crossover.aspect_label
    assert cell.startswith(f"n:m ≈ {label(expected.point, '.3g')} [{label(expected.low, '.3g')}, "
                           f"{label(expected.high, '.3g')}]")
    # jax's crossing sits in the last cell, whose CI holds 1: the CI is open on the high side
    records = series_records("jax:cpu", "affine")
    edge = stats.crossover([aspect(r) for r in records], [estimate(r) for r in records])
    assert edge.high is None and edge.point is not None
    assert summary_cell("jax:cpu", "affine") == (f"n:m ≈ {label(edge.point, '.3g')} [≥ {label(edge.low, '.3g')}, "
                                                 "or forward everywhere in the grid] (forward reaches past n = m)")
    # and jax on the MLP never crosses: forward everywhere in the grid
    assert summary_cell("jax:cpu", "mlp").startswith("none in the grid: forward everywhere from 1:64 to 64:1")


def test_noisy_figures_are_hollow_and_counted_per_flag(section):
    chart = charts(section("scaling"))[0]
    hollow, flagged = [], []
    for trace, facets, machine in zip(chart.fig.data, chart.trace_facets, chart.trace_columns):
        if machine != "cpubox" or facets is None or trace.mode != "lines+markers":
            continue
        problem, operator, dtype = facets
        for symbol, text in zip(trace.marker.symbol, trace.text):
            hollow.append(symbol.endswith("-open"))
            flagged.append("⚠ " in text)
    noisy = [r for r in raw_figures("cpubox", TIME) if set(r["flags"]) & set(generate.NOISY)]
    assert sum(hollow) == len(noisy) > 0 and hollow == flagged
    # the table of flagged figures counts each flag from the figures file
    table = noise.flagged_table(context())
    row = re.search(rf"<tr><td>cpubox</td><td>{re.escape(TIME)}</td>(.*?)</tr>", table).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    header = re.findall(r"<th>(.*?)</th>", table)[2:]
    counts = dict(zip(header, cells))
    for flag in generate.NOISY:
        assert int(counts[flag]) == sum(1 for r in raw_figures("cpubox", TIME) if flag in r["flags"])
    assert int(counts["flagged noisy"]) == len(noisy)


def test_machine_card_shows_the_aa_control(built):
    _, html = built
    controls = raw_figures("cpubox", AA)
    assert len(controls) == 4
    est = stats.combine([math.log(r["value"]) for r in controls])
    worst = max(abs(r["value"] - 1) for r in controls)
    expected = (f"{est.value:.3f} [{est.ci[0]:.3f}, {est.ci[1]:.3f}] over 4 controls; "
                f"|A/A − 1| ≤ {100 * worst:.1f} %")
    cards = re.findall(r'<dd class="aa">(.*?)</dd>', html)
    assert cards[0] == blocks.esc(expected)
    [quick] = raw_figures("gpubox", AA)
    assert cards[1] == blocks.esc(f"{quick['value']:.3f} (no CI) over 1 control; "
                                  f"|A/A − 1| ≤ {100 * abs(quick['value'] - 1):.1f} %")


def test_quick_run_is_marked_wherever_its_numbers_appear(built, figures):
    _, html = built
    cards = html.split('<div class="card">')[1:]
    assert "Quick run" in cards[1] and "Quick run" not in cards[0]     # gpubox's card, not cpubox's
    scaling_notes = html.split('<section id="scaling">')[1].split('<div class="chart"')[0]
    assert "The numbers from gpubox are smoke-test numbers" in scaling_notes
    titles = [{a.get("text") for a in f["layout"].get("annotations", [])} for f in figures.values()]
    assert sum("gpubox ⚠ quick run" in t for t in titles) >= 5 and not any("gpubox" in t for t in titles)


def test_hover_text_names_machine_and_commit(figures):
    text = [s for f in figures.values() for s in figure_text(f)]
    for machine in ("cpubox", "gpubox"):
        assert any(f"machine {machine} · commit 3f9c2a1e" in s for s in text)


def test_crossover_heatmap_cells_say_who_wins_on_the_page(figures):
    heat = next(f for f in figures.values() if f["data"][0]["type"] == "heatmap")
    cells = {c for trace in heat["data"] for row in trace["text"] for c in row}
    assert "tie" in cells
    assert any(re.fullmatch(r"fwd \d+(\.\d)?×", c) for c in cells)
    assert any(re.fullmatch(r"rev \d+(\.\d)?×", c) for c in cells)
    assert any(c.endswith("?") for c in cells)           # the quick box's cells: no CI, no confirmed winner


# --- the page as a whole -------------------------------------------------------------------

def test_page_is_self_contained_with_plotly_inlined_once(built):
    _, html = built
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()) == 1
    ours = html.replace(get_plotlyjs(), "")
    assert not re.search(r"<script[^>]+src=", ours), "no external scripts"
    assert not re.search(r"""<link|(src|href)=["']?https?:""", ours)


def test_worked_example_is_computed_live_by_the_numpy_backend(built):
    _, html = built
    assert "vᵀJ = <b>(5, 18, 34)</b>" in html and "vᵀJ = <b>(10, 34, 42)</b>" in html
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


def test_sections_are_one_module_each_in_page_order(built):
    _, html = built
    ids = [m.build.__module__.rsplit(".", 1)[1] for m in S.modules()]
    assert ids == ["machines", "example", "crossover", "workloads", "sparse", "scaling", "memory", "peak_memory", "ratios", "compile",
                   "noise", "runs"]
    assert re.findall(r'<section id="(\w+)">', html) == ids
    titles = re.findall(r"<h2>(\d+) · (.*?)</h2>", html)
    assert [int(n) for n, _ in titles] == list(range(1, len(ids) + 1))


def test_adding_a_section_is_one_new_module(tmp_path, monkeypatch):
    (tmp_path / "zz_extra.py").write_text(
        "from adcompare.report.sections.common import Section\n"
        "ORDER = 75\n"
        "def build(ctx):\n"
        "    return Section('extra', 'An extra section', '<p>%d machines</p>' % len(ctx.results.machines))\n")
    monkeypatch.setattr(S, "__path__", [*S.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "adcompare.report.sections.zz_extra", raising=False)
    names = [m.__name__.rsplit(".", 1)[1] for m in S.modules()]
    assert names[-3:] == ["noise", "zz_extra", "runs"]
    res = load_results(FIXTURE)
    monkeypatch.setattr(S.modules()[1], "build", lambda ctx: S.Section("example", "skipped", ""))  # no frameworks
    html = page.render(res, FIXTURE, tmp_path / "index.html")
    assert '<section id="extra"><h2>12 · An extra section</h2><p>2 machines</p>' in html


def test_machines_are_listed_side_by_side_with_their_environment(built, figures):
    _, html = built
    for text in ("cpubox", "gpubox", "AMD EPYC 7B13", "NVIDIA H100 80GB HBM3", "driver 550.90.07", "openblas Zen",
                 "CUDA 12.4", "SapphireRapids", "2.13.0+cpu", "3f9c2a1e", "gpu-slice", "one panel per machine",
                 "<dt>RAM</dt><dd>7.8 GiB</dd>", "<dt>RAM</dt><dd>125.5 GiB</dd>"):
        assert text in html, text
    titled = [f for f in figures.values() if {"cpubox", "gpubox ⚠ quick run"} <=
              {a.get("text") for a in f["layout"].get("annotations", [])}]
    assert len(titled) >= 5     # every chart with both machines has both as panel titles


def test_sections_and_memory_story_are_present(built):
    _, html = built
    for text in ("The worked example", "Forward vs reverse", "Scaling with n", "Memory", "Cost ratios",
                 "Machines, versions and runs", "0 bytes by construction", "Figures flagged as noisy",
                 "A/A controls: the noise floor", "Runs merged into the plotted results"):
        assert text in html, text
    # the fixture has every family but the workloads, sparse Jacobians and measured peak memory
    # (tests/test_report_workloads.py, tests/test_report_sparse.py and tests/test_peak_memory.py run those)
    assert html.count('class="nodata"') == 3
    assert "No data for workload ratios" in html and "No data for sparse Jacobians" in html


def test_cheap_gradient_band_is_in_the_ratio_legend(figures):
    ratio = next(f for div, f in figures.items() if div.startswith("chart-ratios"))
    assert "cheap-gradient bound 3–4" in [t.get("name") for t in ratio["data"]]


def test_tape_memory_grows_with_depth_in_the_chart_data(section):
    depth_chart = charts(section("memory"))[0]
    [trace] = traces(depth_chart, "cpubox", ("lorenz96, n=128", "float64"), "numpy:cpu")
    assert list(trace.x) == [1, 5, 10, 20, 40]
    assert all(b > a for a, b in zip(trace.y, trace.y[1:]))
    assert list(trace.error_y.array) == [0, 0, 0, 0, 0]           # counted: the CI is the value itself
    assert "(exact)" in trace.text[0]
    zero = [t for t, f in zip(depth_chart.fig.data, depth_chart.trace_facets) if f is None and t.y[0] == 0]
    assert len(zero) == 2 and all(list(t.y) == [0, 0] for t in zero)


def test_each_view_has_one_legend_entry_per_target_across_machine_panels(section):
    chart = charts(section("scaling"))[0]
    views: dict[tuple, list] = {}
    for trace, facets in zip(chart.fig.data, chart.trace_facets):
        views.setdefault(facets, []).append(trace)
    assert len(views) > 20   # problems × operators × dtypes, one menu entry each
    for facets, group in views.items():
        legend = [t.name for t in group if t.showlegend]
        assert sorted(legend) == sorted({t.name for t in group}), facets
    assert chart.default[1:] == ("vjp", "float64")   # the first view is the one the menus show
    assert all(t.visible == (f is None or f == chart.default) for t, f in zip(chart.fig.data, chart.trace_facets))


def test_size_ticks_are_the_measured_sizes_without_overlap():
    assert spaced([8, 10, 64, 128, 1000, 4096, 10000, 100000]) == [8, 64, 128, 1000, 4096, 10000, 100000]
    assert [size_label(x) for x in (8, 4096, 10000, 100000, 2_000_000)] == ["8", "4096", "10k", "100k", "2M"]


def test_scaling_lines_join_sizes_whose_options_follow_n():
    """affine's m defaults to n: affine:10:m=10 and affine:1000:m=1000 are one line, 'affine, m=n';
    an explicit m that differs from n names its own line."""
    assert scaling.scaling_family("affine", 10, {"m": 10}) == scaling.scaling_family("affine", 1000, {"m": 1000}) \
        == "affine, m=n"
    assert scaling.scaling_family("mlp", 100, {"hidden": 64, "m": 7}) == "mlp, hidden=64, m=7"
    assert scaling.scaling_family("lorenz96", 8, {"steps": 10}) == "lorenz96, steps=10"


def test_compile_hover_marks_the_numbers_without_ci(section):
    chart = charts(section("compile"))[0]
    [first] = traces(chart, "cpubox", ("first call (fresh interpreter)",), "torch:cpu")
    assert all("(no CI recorded)" in text for text in first.text)
    [prepared] = traces(chart, "cpubox", ("prepare (in process)",), "torch:cpu")
    assert all("95 % CI over 4 processes" in text for text in prepared.text)


def test_missing_families_get_a_short_note_not_an_empty_chart(tmp_path):
    root = copy_fixture(tmp_path)
    for machine in ("cpubox", "gpubox"):
        path = root / machine / RESULTS_FILE
        data = json.loads(path.read_text())
        data["results"] = {k: v for k, v in data["results"].items()
                           if not k.startswith(("memory.", "time_operators.Crossover", "ratios.NoiseFloor"))}
        path.write_text(json.dumps(data))
        (root / machine / "adcompare-env-3f9c2a1e.json").unlink()
        (root / machine / FIGURES_FILE).unlink()
    html = build_report(root, tmp_path / "index.html").read_text()
    for text in ("No data for the n × m crossover grid", "No data for tape memory", "No data for peak device memory",
                 "No data for A/A controls", "Scaling with n", "machine cpubox"):
        assert text in html, text
    assert html.count('class="nodata"') == 8   # the four above, workloads, sparse, peak memory, the missing run records
    blas_row = re.search(r"<td>BLAS kernel</td>(.*?)</tr>", html).group(1)
    assert blas_row == "<td>unknown</td><td>unknown</td>"


# --- robustness ----------------------------------------------------------------------------

def test_nine_or_more_machines_wrap_into_rows(tmp_path):
    root = tmp_path / "results"
    names = [f"box{i:02d}" for i in range(10)]
    generate.write(root, {name: {**generate.MACHINES["cpubox"], "targets": ["numpy:cpu"]} for name in names})
    res = load_results(root)
    assert res.machines == names
    chart = charts(scaling.build(context(res)))[0]
    assert [a.text for a in chart.fig.layout.annotations] == names
    assert blocks.grid_shape(10) == (4, 3) and chart.trace_columns.count("box09") > 0
    html = page.render(res, root, tmp_path / "index.html")
    assert len(page_figures(html)) == 7      # every chart but peak device memory (no GPU here)


def test_zero_and_negative_timings_are_left_out_and_counted(tmp_path):
    root = copy_fixture(tmp_path)
    kw = {"target": "numpy:cpu", "dtype": "float64", "operator": "vjp"}
    bad = {"square:10": 0.0, "square:1000": -2e-6}
    path = root / "cpubox" / FIGURES_FILE
    data = json.loads(path.read_text())
    for record in data["figures"]:
        if record["benchmark"] == TIME and record["params"] == {**kw, "case": record["params"]["case"]} \
                and record["params"]["case"] in bad:
            record["value"] = bad[record["params"]["case"]]
        if record["benchmark"] == RATIO and record["params"]["target"] == "torch:cpu":
            record["value"] = 0.0                      # every torch cost ratio: zero
    path.write_text(json.dumps(data))
    res = load_results(root)
    assert len(res.invalid_of(TIME)) == 2 and res.outcomes[TIME]["invalid"] == 2
    ctx = context(res)
    section = scaling.build(ctx)
    [trace] = traces(charts(section)[0], "cpubox", ("square", "vjp", "float64"), "numpy:cpu")
    assert list(trace.x) == [100000]
    notes = "".join(b for b in section.blocks if isinstance(b, str))
    assert "2 numbers here are zero or negative" in notes
    assert "numpy:cpu square:10 vjp float64 on cpubox: 0.0" in notes
    html = page.render(res, root, tmp_path / "index.html")   # every section survives it
    assert "zero or negative" in html.split('<section id="ratios">')[1].split("</section>")[0]


BAD_FILES = {
    "11111111-not-utf8.json": b'{"commit_hash": "caf\xe9"}',
    "22222222-truncated.json": None,   # the first 5000 bytes of a real results file
    "33333333-corrupt.json": b"{not json",
    "44444444-not-asv.json": b'{"hello": 1}',
}


def write_bad_files(folder: Path) -> None:
    for name, body in BAD_FILES.items():
        (folder / name).write_bytes(body if body is not None else (FIXTURE / "cpubox" / RESULTS_FILE).read_bytes()[:5000])


def test_bad_files_are_skipped_named_on_stderr_and_on_the_page(tmp_path, capsys):
    root = copy_fixture(tmp_path)
    write_bad_files(root / "cpubox")
    out = build_report(root, tmp_path / "index.html")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(BAD_FILES)
    reasons = {"11111111": "is not UTF-8 text", "22222222": "is not valid JSON", "33333333": "is not valid JSON",
               "44444444": "is not an asv results file"}
    html = out.read_text()
    for line, name in zip(err, sorted(BAD_FILES)):
        path = root / "cpubox" / name
        assert line.startswith(f"adcompare report: skipped {path}: {reasons[name[:8]]}")
        assert line.endswith(f"remove it with: rm '{path}'")
        assert f"<code>{blocks.esc(path)}</code> {reasons[name[:8]]}" in html
        assert f"rm &#x27;{blocks.esc(path)}&#x27;" in html
    assert load_results(root).machines == ["cpubox", "gpubox"]   # the valid files are all still read


def test_bad_files_through_the_cli_build_the_page_from_the_rest(tmp_path):
    root = copy_fixture(tmp_path)
    (root / "gpubox" / "55555555-not-utf8.json").write_bytes(b"\xff\xfe{}")
    out = tmp_path / "page" / "index.html"
    proc = run_cli("--results", root, "--out", out, example=False)
    assert proc.returncode == 0, proc.stderr
    path = root / "gpubox" / "55555555-not-utf8.json"
    assert proc.stderr.strip().splitlines() == [
        f"adcompare report: skipped {path}: is not UTF-8 text (bad byte at offset 0); remove it with: rm '{path}'"]
    assert "gpubox" in out.read_text()


def test_a_bad_sidecar_or_figures_file_is_named_and_the_numbers_stay(tmp_path, capsys):
    root = copy_fixture(tmp_path)
    (root / "cpubox" / FIGURES_FILE).write_bytes((FIXTURE / "cpubox" / FIGURES_FILE).read_bytes()[:3000])
    (root / "gpubox" / "adcompare-env-3f9c2a1e.json").write_bytes(b"\x80")
    res = load_results(root)
    assert {p.path.name for p in res.problems} == {FIGURES_FILE, "adcompare-env-3f9c2a1e.json"}
    cpu = [m for m in res.measurements if m.run.machine == "cpubox"]
    assert cpu and all(m.figure is None for m in cpu)          # asv's numbers, no CI recorded
    assert load_results(root).latest[1].env == {}


def test_a_machine_folder_without_machine_json_is_still_read(tmp_path):
    root = copy_fixture(tmp_path)
    (root / "gpubox" / "machine.json").unlink()
    path = root / "gpubox" / RESULTS_FILE
    data = json.loads(path.read_text())
    del data["params"]["machine"]              # the name can only come from the folder
    path.write_text(json.dumps(data))
    res = load_results(root)
    assert res.machines == ["cpubox", "gpubox"] and res.latest[1].machine_info == {}
    assert len([m for m in res.measurements if m.run.machine == "gpubox"]) == \
        len([m for m in load_results(FIXTURE).measurements if m.run.machine == "gpubox"])
    [problem] = res.problems
    assert problem.path == root / "gpubox" / "machine.json" and not problem.remove
    html = machines_section.build(context(res)).blocks
    text = "".join(html)
    assert "machine.json is missing" in text and "gpubox" in text


def test_markup_in_results_labels_never_reaches_plotly_as_markup(tmp_path):
    root = generate.with_markup(tmp_path / "results")
    res = load_results(root)
    assert generate.MARKUP in res.machines
    html = page.render(res, root, tmp_path / "index.html")
    figures = page_figures(html)
    text = [s for f in figures.values() for s in figure_text(f)]
    assert [s for s in text if live_tags(s)] == []
    escaped = "&lt;a href=\"https://example.com\"&gt;x&lt;/a&gt;"
    shown = [s for s in text if escaped in s]
    assert any(s.startswith(escaped) for s in shown)                     # panel titles and trace names
    assert any(f"machine {escaped} · commit" in s for s in shown)          # hover
    assert any(f"⚠ {escaped}-drift" in s for s in shown)                   # a flag
    assert any(f"{escaped}:1000" in s for s in shown)                      # a case, in a bar's tick
    assert generate.MARKUP not in html_outside_figures(html)               # and not live in the HTML either


def test_safe_figure_neutralises_tags_it_did_not_write():
    assert blocks.safe_text('<b>a</b><br><a href="x">y</a><img src=x>') == \
        '<b>a</b><br>&lt;a href="x">y&lt;/a>&lt;img src=x>'
    assert blocks.label('<a href="x">&') == '&lt;a href="x"&gt;&amp;'


# --- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("setup, message", [
    ("missing", "does not exist"),
    ("empty", "no asv results in"),
    ("corrupt", "is not valid JSON"),
    ("truncated", "is not valid JSON"),
    ("not-utf8", "is not UTF-8 text"),
    ("not-asv", "is not an asv results file"),
])
def test_no_valid_results_give_one_line_and_exit_2_and_keep_the_old_page(tmp_path, setup, message):
    results = tmp_path / "results"
    if setup != "missing":
        results.mkdir()
    bad = results / "box" / "abcdef12-env.json"
    if setup not in ("missing", "empty"):
        bad.parent.mkdir()
        (results / "box" / "machine.json").write_text('{"machine": "box", "version": 1}')
        body = {"corrupt": b"{not json", "truncated": (FIXTURE / "cpubox" / RESULTS_FILE).read_bytes()[:5000],
                "not-utf8": b'{"a": "\xe9"}', "not-asv": b'{"hello": 1}'}[setup]
        bad.write_bytes(body)
    out = tmp_path / "html" / "index.html"
    out.parent.mkdir()
    out.write_text("previous page")
    proc = run_cli("--results", results, "--out", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adcompare: error:") and message in lines[0], proc.stderr
    if setup not in ("missing", "empty"):
        assert lines[0].endswith(f"remove with: rm '{bad}'")
    assert "Traceback" not in proc.stderr
    assert out.read_text() == "previous page"


def test_out_that_would_overwrite_results_is_refused(tmp_path):
    root = copy_fixture(tmp_path)
    cases = {
        root / "cpubox" / "index.html": "is inside the results data",
        root / "report.html": "is inside the results data",
        root / "cpubox" / RESULTS_FILE: "is an existing .json file",
        tmp_path: "is an existing directory",
    }
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    cases[outside] = "is an existing .json file"
    for out, message in cases.items():
        with pytest.raises(UserError, match=re.escape(message)):
            page.check_out(out, root)
    page.check_out(root / "html" / "adcompare" / "index.html", root)     # asv's pages folder is fine
    page.check_out(tmp_path / "page.html", root)
    before = (root / "cpubox" / RESULTS_FILE).read_bytes()
    proc = run_cli("--results", root, "--out", root / "cpubox" / RESULTS_FILE)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "is an existing .json file" in proc.stderr
    assert (root / "cpubox" / RESULTS_FILE).read_bytes() == before


def test_default_results_folder_is_the_one_adcompare_run_writes(monkeypatch, tmp_path):
    from adcompare.run import checkout

    assert command.default_results() == checkout.project_root() / "results"
    monkeypatch.setattr(adcompare, "__file__", str(tmp_path / "site-packages" / "adcompare" / "__init__.py"))
    assert command.default_results() == Path("results")        # not a checkout: the current folder's


def test_report_command_defaults_the_page_into_the_results_html_folder(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(page, "build_report", lambda results, out: calls.append((results, out)) or out)
    command.main(argparse.Namespace(results=None, out=None))
    command.main(argparse.Namespace(results=tmp_path, out=None))
    assert calls == [(command.default_results(), command.default_results() / "html" / "adcompare" / "index.html"),
                     (tmp_path, tmp_path / "html" / "adcompare" / "index.html")]


def test_without_plotly_the_cli_says_what_to_install(tmp_path):
    no_plotly = "import sys; sys.modules['plotly'] = None; " + CLI
    proc = subprocess.run([sys.executable, "-c", no_plotly, "report", "--results", str(FIXTURE),
                           "--out", str(tmp_path / "index.html")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "adcompare: error: the report needs plotly: python3 -m pip install plotly"
    assert not (tmp_path / "index.html").exists()


# --- atomic write --------------------------------------------------------------------------

def test_failure_mid_build_leaves_the_previous_page(tmp_path, monkeypatch):
    out = tmp_path / "index.html"
    out.write_text("previous page")

    def broken(ctx):
        raise RuntimeError("chart failed")

    monkeypatch.setattr(ratios, "build", broken)
    with pytest.raises(RuntimeError, match="chart failed"):
        build_report(FIXTURE, out)
    assert out.read_text() == "previous page"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_failure_while_writing_leaves_the_previous_page(tmp_path, monkeypatch):
    out = tmp_path / "index.html"
    out.write_text("previous page")

    def no_rename(src, dst):
        raise OSError("disk full")

    from adcompare.store import files

    monkeypatch.setattr(files.os, "replace", no_rename)
    with pytest.raises(OSError, match="disk full"):
        page.write_atomically(out, "<html>new</html>")
    assert out.read_text() == "previous page"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
