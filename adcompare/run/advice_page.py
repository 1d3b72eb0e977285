"""The one-problem report page of an advise run (`adcompare advise --out PATH`): the run saved into
a temporary results folder by `adcompare run`'s own saving code (`run.merge`: the figures file,
the run record, asv's results file), then the main report built from that folder, so the page has
the main report's charts for this one instance. asv's definitions of the benchmarks are made
from the run's own figures (the suite's parameter lists are the grid's, which this case is not in)."""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

from adcompare.errors import UserError
from adcompare.families import all_benchmarks
from adcompare.ids import Target
from adcompare.run import checkout, merge
from adcompare.run.advise import GRID, Advice
from adcompare.store import environment

BENCHMARK_VERSION = "1"     # benchmarks/suite.py's `Figure.version`: asv keeps results of one version


def check_can_build() -> Path:
    """The source checkout (asv.conf.json and asv are what the saving code needs) with plotly
    installed; UserError otherwise, before anything is measured."""
    try:
        root = checkout.project_root()
    except UserError as err:
        raise UserError(f"--out: {err}") from None
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise UserError("--out: the report needs plotly: python3 -m pip install plotly") from None
    return root


def asv_benchmarks(specs) -> dict:
    """asv's definitions (as its benchmarks.json holds them) of the benchmarks these figures
    belong to, each parameter listing exactly the values the figures take."""
    values: dict[str, list[list]] = {}
    for spec in specs:
        axes = values.setdefault(spec.benchmark, [[] for _ in spec.params])
        for axis, value in zip(axes, spec.params):
            if repr(value) not in axis:
                axis.append(repr(value))
    declared = all_benchmarks()
    return {name: {"name": name, "code": "", "type": "track", "version": BENCHMARK_VERSION, "timeout": 600,
                   "unit": declared[name].unit, "param_names": list(declared[name].param_names), "params": axes}
            for name, axes in values.items()}


def _machine_info(machine: str) -> dict:
    """asv's description of this machine (what `checkout.register_machine` records), without
    writing it into the user's ~/.asv-machine.json."""
    from asv.machine import Machine

    return {**Machine.get_defaults(), "machine": machine, "version": 1}


def write_page(advice: Advice, out: Path, log=lambda line: None) -> Path:
    """Save the run into a temporary results folder and build the report from it into `out`
    (written atomically: a failure leaves an older page as it was)."""
    from adcompare.report import build_report

    root = check_can_build()
    machine = environment.machine_name()
    commit = environment.git_commit(root)
    figures, skipped = advice.figures, advice.plan.skipped
    quick = advice.quick
    backends = sorted({Target.parse(job.target).backend for job in advice.plan.jobs})
    record = {"id": advice.run_id, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "started": advice.started, "quick": quick, "grid": "advise",
              "selection": {"problem": [advice.instance.name], "case": advice.case, "backend": backends},
              "budget_minutes": advice.budget_minutes, "combinations": len(figures),
              "measured": len(advice.measured), "failed": sum(f.status == "failed" for f in figures),
              "passes": advice.passes, "seconds": round(advice.seconds, 1),
              "status": "interrupted" if advice.interrupted else "ok", "commit": commit}
    with tempfile.TemporaryDirectory(prefix="adcompare-advise-page-") as tmp:
        results, scratch = Path(tmp) / "results", Path(tmp) / "scratch"
        scratch.mkdir(parents=True)
        env_info = environment.collect(root, machine, GRID, ["float64"], backends=backends)
        merge.write_figures(results, machine, commit, figures, skipped, record, log)
        merge.write_record(results, machine, commit, record, env_info, log)
        merge.write_asv_results(root, results, scratch, machine, _machine_info(machine), commit, figures, skipped,
                                advice.started, {}, log,
                                benchmarks=asv_benchmarks([f.spec for f in figures] + [s.figure for s in skipped]))
        return Path(build_report(results, out))
