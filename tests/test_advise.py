"""`adcompare advise`: the verdict's winners and ties on figures made by hand; a wrong backend is
reported and not timed; a backend that cannot run says why; a quick advise of the worked example
from the API and from the command line; one-line errors for the user's mistakes.

Two quick runs: the worked example on numpy and torch, and one on numpy beside a wrong backend."""

import json
import math

import numpy as np
import pytest

import adcompare as ad
from adcompare import backends, cli
from adcompare.backends import Backend, Built, Unavailable
from adcompare.commands import advise as advise_command
from adcompare.families.cases import instance_of
from adcompare.families.cost_ratios import COST_RATIO, primal_ratio
from adcompare.families.crossover import factor
from adcompare.families.prepare import PREPARE_SECONDS
from adcompare.families.tape import TAPE
from adcompare.families.time_per_call import seconds_figure
from adcompare.measure.estimates import MeasuredFigure
from adcompare.measure.stats import Estimate, t975
from adcompare.run import correctness
from adcompare.run.verdict import FORWARD, REVERSE, TIE, Modes, ratio, verdict

QUICK_RUNS = pytest.mark.xdist_group("advise")
CASE = "poly3:3"


# --- the verdict, on figures made by hand -----------------------------------------------------------
def estimate(lo: float, hi: float, processes: int = 3) -> Estimate:
    """The estimate whose 95 % CI is [lo, hi] (its value the geometric middle)."""
    df = processes - 1
    return Estimate((math.log(lo) + math.log(hi)) / 2, (math.log(hi) - math.log(lo)) / (2 * t975(df)), df, processes)


def measured(spec, est: Estimate, flags=()) -> MeasuredFigure:
    return MeasuredFigure(spec, est, list(flags), {}, 30, [est.value] * est.processes)


def seconds(target, operator, lo, hi):
    return measured(seconds_figure(target, "float64", CASE, operator), estimate(lo, hi))


def test_the_fastest_way_and_its_ties():
    figures = [
        seconds("numpy:cpu", "vjp", 9.8e-6, 10.2e-6),
        seconds("torch:cpu", "vjp", 9.9e-6, 10.6e-6),      # overlaps: the ratio's CI holds 1
        seconds("jax:cpu", "vjp", 19e-6, 21e-6),           # twice as slow: no tie
        measured(primal_ratio(COST_RATIO, "numpy:cpu", "float64", CASE, "vjp"), estimate(2.9, 3.1)),
        seconds("numpy:cpu", "jvp", 5e-6, 5.2e-6),
        seconds("numpy:cpu", "jacobian-rev", 30e-6, 31e-6),
        seconds("torch:cpu", "jacobian-fwd-loop", 20e-6, 20.5e-6),
        measured(PREPARE_SECONDS.figure(("jax:cpu", "float64", CASE, "vjp"), "prepare", ("vjp",)), estimate(0.5, 0.6)),
        MeasuredFigure(TAPE.figure(("numpy:cpu", "float64", CASE), "bytes", ("tape",)),
                       Estimate(math.log(4096), 0.0, 1, 1), [], {}, 0, [4096.0]),
        MeasuredFigure(seconds_figure("autograd:cpu", "float64", CASE, "vjp"), None, [], {}, 0, [], "failed", "boom"),
    ]
    v = verdict(figures, scalar=False)
    vjp = v.choice("vjp")
    assert vjp.winner.target == "numpy:cpu" and vjp.winner.mode == "rev" and vjp.winner.strategy == "single"
    assert [w.target for w in vjp.ties] == ["torch:cpu"] and len(vjp.ways) == 3    # the failed one is left out
    assert vjp.winner.cost.value == pytest.approx(3.0, rel=0.01)
    jacobian = v.choice("jacobian")
    assert jacobian.winner.operator == "jacobian-fwd-loop" and jacobian.winner.strategy == "loop" and not jacobian.ties
    assert v.choice("jvp").winner.operator == "jvp" and v.choice("hvp") is None     # no HVP of a vector f
    assert v.prepare[0][:2] == ("jax:cpu", "vjp") and v.tape == (("numpy:cpu", 4096.0),)
    json.dumps(v.to_dict(), allow_nan=False)


def test_a_ratio_of_independent_figures_adds_their_variances():
    a, b = estimate(9.0, 11.0), estimate(18.0, 22.0)
    r = ratio(a, b)
    assert r.value == pytest.approx(a.value / b.value)
    assert r.log_se == pytest.approx(math.hypot(a.log_se, b.log_se)) and r.df >= 2
    assert r.ci[0] < 0.5 < r.ci[1]
    assert ratio(a, Estimate(0.0, None, 1, 1)).ci is None


def test_forward_wins_reverse_wins_and_a_tie():
    def modes(lo, hi):
        f = measured(factor("numpy:cpu", "float64", CASE, "batched", "fwd", "rev"), estimate(lo, hi))
        [m] = verdict([f], scalar=False).modes
        return m

    fwd = modes(0.28, 0.33)
    assert fwd.verdict == FORWARD and fwd.strategy == "batched"
    assert fwd.speedup[0] == pytest.approx(1 / math.sqrt(0.28 * 0.33))
    assert fwd.speedup[1] == pytest.approx((1 / 0.33, 1 / 0.28))
    assert fwd.text() == "forward 3.3× [3.0×, 3.6×] faster"
    rev = modes(2.8, 3.4)
    assert rev.verdict == REVERSE and rev.text() == "reverse 3.1× [2.8×, 3.4×] faster"
    tie = modes(0.8, 1.1)
    assert tie.verdict == TIE and tie.text().startswith("tie (t_fwd/t_rev 0.938×")
    assert Modes("numpy:cpu", "loop", Estimate(math.log(0.5), None, 1, 1)).verdict == TIE   # no CI: no winner


# --- backends that are wrong, or cannot run ---------------------------------------------------------
class _Wrong(Backend):
    """Right primal and JVP, a VJP off by 1 % (a wrong rule somewhere)."""

    name = "wrong-test"
    summary = "a backend with a wrong VJP, inside one test"

    def build(self, operator, inst, x, direction, device, dtype):
        right = get_right(operator, inst, x, direction)
        return Built(lambda: right * (1.01 if operator.kind == "vjp" else 1.0), lambda r: r, np.asarray)


class _Missing(Backend):
    name = "missing-test"
    summary = "a backend whose framework is not installed"

    def missing_reason(self):
        return "missingframe is not installed; install it with: pip install missingframe"


class _Broken(Backend):
    """Runs the primal, but its JVP cannot trace the function."""

    name = "broken-test"
    summary = "a backend whose JVP raises"

    def build(self, operator, inst, x, direction, device, dtype):
        if operator.kind == "jvp":
            raise Unavailable("broken-test cannot trace f's JVP")
        right = get_right(operator, inst, x, direction)
        return Built(lambda: right, lambda r: r, np.asarray)


def get_right(operator, inst, x, direction):
    return backends.get_backend("numpy").prepare(operator, inst, x, direction)()


@pytest.fixture
def fakes(monkeypatch):
    for cls in (_Wrong, _Missing, _Broken):
        monkeypatch.setitem(backends._BACKENDS, cls.name, cls())


def test_a_wrong_backend_is_reported_with_its_error_and_tolerance(fakes):
    inst = instance_of(CASE)
    checks, engine = correctness.check_backends(inst, [backends.get_backend(n) for n in ("numpy", "wrong-test")])
    assert engine.status == correctness.OK and checks[0] is engine
    wrong = checks[1]
    assert wrong.status == correctness.WRONG
    assert wrong.reason.startswith("vjp differs from ") and "> tolerance" in wrong.reason
    failed = [c for c in wrong.checks if not c.ok]
    assert {c.oracle for c in failed} == {"⟨v, J t⟩ by finite differences", "our engine"}
    assert all(c.error > c.tolerance for c in failed)


def test_a_backend_that_cannot_run_says_why_in_one_line(fakes):
    inst = instance_of(CASE)
    checks, _ = correctness.check_backends(inst, [backends.get_backend(n) for n in ("missing-test", "broken-test")])
    missing, broken = checks
    assert missing.status == broken.status == correctness.NA
    assert missing.reason == "missingframe is not installed; install it with: pip install missingframe"
    assert broken.reason == "broken-test cannot trace f's JVP" and "\n" not in broken.reason


@QUICK_RUNS
def test_a_wrong_backend_is_not_timed(fakes):
    advice = ad.advise("poly3", backends=["numpy", "wrong-test", "missing-test"], quick=True)
    status = {c.backend: c.status for c in advice.checks}
    assert status == {"numpy": "ok", "wrong-test": "wrong", "missing-test": "n/a"}
    timed = {f.spec.params[0] for f in advice.figures}
    assert timed == {"numpy:cpu"}
    out = advice.to_dict()
    assert out["backends"]["wrong-test"]["status"] == "wrong" and "tolerance" in out["backends"]["wrong-test"]["reason"]
    assert out["backends"]["missing-test"]["reason"].startswith("missingframe is not installed")
    text = advise_command.text(advice)
    rows = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.startswith("  ") and
            line.split()[0].endswith("-test")}
    assert rows == {"wrong-test": "wrong", "missing-test": "n/a"} and "not timed" in text


# --- the worked example, quick ----------------------------------------------------------------------
def check_structure(out: dict) -> None:
    assert out["problem"] == "poly3" and out["case"] == CASE and (out["n"], out["m"]) == (3, 3)
    assert out["quick"] is True
    assert {name: b["status"] for name, b in out["backends"].items()} == {"numpy": "ok", "torch": "ok"}
    assert all(c["ok"] and c["error"] <= c["tolerance"] for b in out["backends"].values() for c in b["checks"])
    assert not out["not_measured"]                  # every figure of poly3 runs on both backends
    benchmarks = {f["benchmark"].rsplit(".", 1)[-1] for f in out["figures"]}
    assert benchmarks == {"track_seconds", "track_cost_ratio", "track_factor", "track_tape_bytes",
                          "track_prepare_seconds"}
    for f in out["figures"]:
        assert f["value"] is not None and f["value"] >= 0 and isinstance(f["flags"], list)
        if f["unit"] != "bytes":     # timed: one quick process (a preparation has no rounds, so no CI)
            assert f["value"] > 0 and "quick" in f["flags"] and "one-process" in f["flags"]
            assert f["ci"] is None if f["benchmark"] == PREPARE_SECONDS.name else f["ci"][0] <= f["value"] <= f["ci"][1]
    derivatives = out["verdict"]["derivatives"]
    assert set(derivatives) == {"vjp", "jvp", "jacobian"}
    for d in derivatives.values():
        assert d["fastest"]["seconds"]["value"] > 0 and d["fastest"]["backend"] in ("numpy", "torch")
        assert len(d["ways"]) == d["others"] + 1 and set(d["ties"]) <= {w["way"] for w in d["ways"][1:]}
    assert len(derivatives["jacobian"]["ways"]) == 8            # 4 Jacobians × 2 backends
    modes = out["verdict"]["jacobian_forward_vs_reverse"]
    assert {(m["backend"], m["strategy"]) for m in modes} == {(b, s) for b in ("numpy", "torch")
                                                              for s in ("batched", "loop")}
    assert all(m["verdict"] in ("forward", "reverse", "tie") for m in modes)
    assert {(p["backend"], p["operator"]) for p in out["verdict"]["prepare_seconds"]} == \
        {(b, op) for b in ("numpy", "torch") for op in ("vjp", "jvp")}
    assert {t["backend"] for t in out["verdict"]["tape_bytes"]} == {"numpy", "torch"}


@QUICK_RUNS
def test_quick_advise_of_the_worked_example_from_the_api_and_the_command_line(monkeypatch, capsys):
    """One quick run through the Python API; the command line reads its arguments into the same
    `run_advice` and prints that run as JSON (so the test measures once)."""
    advice = ad.advise("poly3", backends=["numpy", "torch"], quick=True)
    out = json.loads(json.dumps(advice.to_dict(), allow_nan=False))
    check_structure(out)
    assert all(f.status == "ok" for f in advice.figures) and len(advice.figures) == len(out["figures"])
    text = advise_command.text(advice)
    assert "Verdict" in text and "forward against reverse" in text and "(--quick: smoke-test numbers)" in text

    asked = {}

    def run_advice(name, n, options, **kw):
        asked.update(name=name, n=n, options=options, **{k: v for k, v in kw.items() if k != "log"})
        return advice

    monkeypatch.setattr(advise_command.A, "run_advice", run_advice)
    rc = cli.main(["advise", "poly3", "--backend", "numpy", "--backend", "torch", "--quick", "--json", "--budget", "2"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert asked == {"name": "poly3", "n": None, "options": {}, "budget": 2.0, "backends": ["numpy", "torch"],
                     "quick": True}
    assert json.loads(captured.out) == out


# --- mistakes: one line, exit status 2, before anything is measured ------------------------------------
def run_cli(argv) -> int:
    """The exit status of `adcompare ARGV` (argparse's own errors exit from inside)."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code


@pytest.mark.parametrize("argv, words", [
    (["advise", "no-such-problem"], "unknown problem 'no-such-problem'"),
    (["advise", "mlp", "--n", "0"], "--n must be at least 1"),
    (["advise", "mlp", "--n", "ten"], "invalid int value"),
    (["advise", "mlp", "--opt", "m"], "is not KEY=INTEGER"),
    (["advise", "mlp", "--opt", "width=3"], "unknown option 'width'"),
    (["advise", "mlp", "--budget", "0"], "budget must be a positive number of minutes"),
    (["advise", "mlp", "--budget", "nan"], "budget must be a positive number of minutes"),
    (["advise", "poly3", "--n", "4"], "n must be 3"),
    (["advise", "poly3", "--backend", "nope"], "unknown backend 'nope'"),
    (["advise", "poly3", "--backend", "missing-test", "--backend", "broken-test"], "no backend can run f"),
])
def test_mistakes_are_one_line_and_exit_2(fakes, capsys, argv, words):
    assert run_cli(argv) == 2
    assert_one_error_line(capsys.readouterr().err, words)


def assert_one_error_line(err: str, words: str) -> None:
    """The error is one line, the last (progress lines may come before it), with no traceback."""
    lines = err.splitlines()
    assert lines[-1].startswith("adcompare: error: ") and words in lines[-1], err
    assert all(line.startswith("adcompare advise: ") for line in lines[:-1]), err


def test_an_out_path_that_cannot_be_written_is_refused_before_measuring(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, words in ((tmp_path, "is a directory"), (blocker / "page.html", "cannot write in")):
        assert run_cli(["advise", "poly3", "--out", str(out)]) == 2
        assert_one_error_line(capsys.readouterr().err, words)


# --- the examples through advise ----------------------------------------------------------------------
EXAMPLES = {"burgers.py": "burgers", "mlp_loss.py": "mlp-loss", "pendulum.py": "pendulum"}


@pytest.mark.product
@pytest.mark.parametrize("file", sorted(EXAMPLES))
def test_each_example_gets_a_verdict(file, capsys):
    """Each example of `examples/` as a user runs it: loaded by path, checked, measured (quick, on
    numpy and eager torch) and given a verdict with the gradient or VJP's fastest way."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / file
    rc = run_cli(["advise", EXAMPLES[file], "--problems", str(path), "--backend", "numpy", "--backend", "torch",
                  "--quick", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    out = json.loads(captured.out)
    assert {name: b["status"] for name, b in out["backends"].items()} == {"numpy": "ok", "torch": "ok"}
    assert all(c["ok"] for b in out["backends"].values() for c in b["checks"])
    derivatives = out["verdict"]["derivatives"]
    assert {"vjp", "jvp"} <= set(derivatives)
    for d in derivatives.values():
        assert d["fastest"]["seconds"]["value"] > 0 and d["fastest"]["backend"] in ("numpy", "torch")


def test_the_budget_keeps_products_first_and_names_what_does_not_fit():
    """advise sizes every process from the checks' one-call times before timing: what fits the
    budget in three processes is kept, products before Jacobians, and a figure left out says
    which budget would hold it."""
    from adcompare.run import advise_budget as B
    from adcompare.run.advise import advice_jobs
    from adcompare.run.worker import Settings

    case, target = "poly3:3", "numpy:cpu"
    sizes = B.Sizes.from_checks([], 3, 3, None)  # no check: nothing is sized, nothing fits
    assert B.fit(advice_jobs(case, [target], False), B.Estimator(sizes, Settings()), 3, 60.0, 0.0).jobs == []

    class Check:
        backend, seconds = "numpy", (("primal", 1e-3), ("vjp", 2e-3), ("jvp", 2e-3))
        prepare = (("primal", 0.01), ("vjp", 0.01), ("jvp", 0.01))
    sizes = B.Sizes.from_checks([Check()], 3, 3, None)
    assert sizes.call[target, "jacobian-fwd-loop"] == pytest.approx(3 * 2e-3)
    est = B.Estimator(sizes, Settings())
    jobs = advice_jobs(case, [target], False)
    roomy = B.fit(jobs, est, 3, 600.0, 0.0)
    assert not roomy.skipped and roomy.planned <= B.MARGIN * 600.0
    one_job = est.job(jobs[0], [a.name for a in jobs[0].arms]) * 3 / B.MARGIN
    tight = B.fit(jobs, est, 3, one_job * 1.01, 0.0)
    assert tight.planned <= B.MARGIN * one_job * 1.01
    kept = {a.operator for job in tight.jobs for a in job.arms}
    assert {"vjp", "jvp"} <= kept and not kept & {"jacobian-fwd", "jacobian-rev"}
    assert tight.skipped and all("--budget" in s.reason for s in tight.skipped)
