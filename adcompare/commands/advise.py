"""`adcompare advise NAME`: is each backend right on this function, and which way of getting each
derivative is fastest here? (`adcompare.run.advise` does the work; this module reads the command
line and prints the result: plain text, or with --json the same as one JSON object.)"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from adcompare.commands.listing import table
from adcompare.commands.products import parse_options, plain_int
from adcompare.errors import UserError
from adcompare.families.cases import backend_of
from adcompare.families.sparse import COLORING, DETECTION
from adcompare.measure.numbers import fmt_interval, fmt_value
from adcompare.run import advise as A, correctness
from adcompare.run.verdict import Way

FLAGS = ("n", "budget", "backend", "quick", "json", "out", "problems")


def command_help(name: str) -> str:
    return "check every backend on one function, time its derivatives, and say which way is fastest"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", metavar="NAME", help="problem name (see `adcompare list`)")
    parser.add_argument("--n", type=plain_int, help="size n (default: the problem's test size)")
    parser.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                        help="a problem option, e.g. --opt m=100 (repeatable)")
    parser.add_argument("--budget", type=float, default=A.DEFAULT_BUDGET_MINUTES, metavar="MINUTES",
                        help=f"wall-clock budget, checks included (default {A.DEFAULT_BUDGET_MINUTES:g})")
    parser.add_argument("--backend", action="append", metavar="B", help="only this backend (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: one short process per figure; numbers are marked as such")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help="also write a one-problem report page (the main report's charts) to PATH")


# --- text --------------------------------------------------------------------------------------------
def _seconds(way: Way) -> str:
    return fmt_interval(way.seconds.value, way.seconds.ci, "seconds")


def _cost(way: Way) -> str:
    return "-" if way.cost is None else fmt_interval(way.cost.value, way.cost.ci, "ratio")


def _check_detail(c: correctness.BackendCheck) -> str:
    if c.status != correctness.OK:
        return c.reason + ("; not timed" if c.status == correctness.WRONG else "")
    worst = max(c.checks, key=lambda k: k.error / k.tolerance)
    detail = f"{len(c.checks)} checks; closest to its tolerance: {worst.quantity} against {worst.oracle}, " \
             f"error {worst.error:.1e} (tolerance {worst.tolerance:.0e})"
    if c.cannot:
        detail += "; cannot run " + ", ".join(f"{op} ({why})" for op, why in c.cannot)
    return detail


def correctness_text(advice: A.Advice) -> str:
    rows = [[c.backend, c.status, _check_detail(c)] for c in advice.checks]
    head = ("Correctness at x0, float64 (random v and t; J t against one central difference along t, "
            "vᵀJ by ⟨v, J t⟩ = ⟨vᵀJ, t⟩, both against our engine):")
    return head + "\n" + _indent(table(["backend", "status", "detail"], rows))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def verdict_text(advice: A.Advice) -> str:
    lines = ["Verdict (95 % CIs over independent processes; a ratio whose CI holds 1 is a tie):"]
    rows = []
    for choice in advice.verdict.choices:
        best = choice.winner
        if best is None:
            rows.append([choice.label, "not measured here (see below)"])
            continue
        others = len(choice.ways) - 1
        ties = (f"ties with {len(choice.ties)} of {others} other way{'s' * (others != 1)}: "
                + ", ".join(w.name() for w in choice.ties)) if choice.ties else \
            (f"no tie among {others} other way{'s' * (others != 1)}" if others else "the only way measured")
        cost = "" if best.cost is None else f", {_cost(best)} the primal"
        rows.append([choice.label, f"{best.name()}: {_seconds(best)}{cost}; {ties}"])
    lines.append(_indent(table(["derivative", "fastest"], rows)))
    if advice.verdict.modes:
        lines.append("\nFull Jacobian, forward against reverse (t_fwd/t_rev, both timed in one process):")
        lines.append(_indent(table(["backend", "strategy", "verdict"],
                                   [[m.backend, m.strategy, m.text()] for m in advice.verdict.modes])))
    return "\n".join(lines)


def setup_text(advice: A.Advice) -> str:
    """Preparation (compile) time of each product and the tape, per backend."""
    prepare = {(t, op): e for t, op, e in advice.verdict.prepare}
    tape = dict(advice.verdict.tape)
    targets = list(dict.fromkeys([t for t, _ in prepare] + list(tape)))
    if not targets:
        return ""
    rows = []
    for t in targets:
        cells = [fmt_interval(prepare[t, op].value, prepare[t, op].ci, "seconds") if (t, op) in prepare else "-"
                 for op in ("vjp", "jvp")]
        rows.append([t.split(":")[0], *cells, fmt_value(tape[t], "bytes") if t in tape else "-"])
    return ("Preparation (convert, trace, compile, warm up; a fresh process, no compile cache) and the tape "
            "one VJP keeps:\n" + _indent(table(["backend", "prepare vjp", "prepare jvp", "tape"], rows)))


def sparsity_text(advice: A.Advice) -> str:
    """The pattern's colourings, and what finding them costs (timed on our engine's target)."""
    found = advice.sparsity
    if found is None:
        return ""
    inst = advice.instance
    setup = {(f.spec.benchmark, f.spec.params[-1]): f.estimate for f in advice.measured
             if f.spec.benchmark in (DETECTION.name, COLORING.name)}
    lines = [f"Sparse Jacobian (our engine's pattern: {found['nonzeros']} non-zeros of {inst.n * inst.m}): "
             f"{found['colors']['fwd']} column colours (at least {found['lower_bounds']['fwd']}) against n = {inst.n} "
             f"forward passes, {found['colors']['rev']} row colours (at least {found['lower_bounds']['rev']}) against "
             f"m = {inst.m} reverse passes."]
    detection = next((e for (name, _), e in setup.items() if name == DETECTION.name), None)
    if detection is not None:
        coloring = ", ".join(f"{mode} {fmt_interval(e.value, e.ci, 'seconds')}" for (name, mode), e in setup.items()
                             if name == COLORING.name)
        lines.append(f"Set-up, once per pattern: detection {fmt_interval(detection.value, detection.ci, 'seconds')}; "
                     f"colouring {coloring}.")
    return "\n".join(lines)


def ways_text(advice: A.Advice) -> str:
    rows = []
    for choice in advice.verdict.choices:
        best = choice.winner
        for way in choice.ways:
            tie = "fastest" if way is best else ("tie" if way in choice.ties else "")
            rows.append([choice.label, way.name(), _seconds(way), _cost(way), str(way.seconds.processes),
                         tie, ",".join(way.flags) or "-"])
    if not rows:
        return ""
    return ("Every way measured, fastest first (cost: t / t_primal; a Jacobian's: t / (min(n, m) · t_primal)):\n"
            + _indent(table(["derivative", "way", "seconds [95 % CI]", "cost", "processes", "", "flags"], rows)))


def _what(record: dict) -> str:
    """What a figure record measures, in a few words: its operator, t_fwd/t_rev of a strategy, ..."""
    params = record["params"]
    if params.get("operator"):
        return params["operator"]
    if params.get("strategy"):
        return f"t_fwd/t_rev ({params['strategy']})"
    return record["benchmark"].rsplit(".", 1)[-1].removeprefix("track_").replace("_", " ")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def summary_text(advice: A.Advice) -> str:
    timed = advice.timed()
    with_wanted = sum(f.estimate.processes >= advice.passes for f in timed)
    lines = [f"Measured {len(advice.measured)} figures in {_duration(advice.seconds)} (budget "
             f"{advice.budget_minutes:g} min, checks included): {with_wanted} of {len(timed)} timed figures from "
             f"{advice.passes} process{'es' * (advice.passes != 1)}" + (" (--quick: smoke-test numbers)"
                                                                          if advice.quick else "") + "."]
    fewer = advice.fewer_processes()
    if fewer:
        compiled = {t for t in fewer if backend_of(t).compiles}
        lines.append("Fewer processes where the budget held no more: " + ", ".join(
            f"{t.split(':')[0]} (down to {p}{', compiles' if t in compiled else ''})" for t, p in fewer.items()) + ".")
    if advice.interrupted:
        lines.append("Interrupted: the verdict covers what was measured before.")
    missing = advice.not_measured
    if missing:
        reasons = list(dict.fromkeys(f"{_what(r)} on {r['params']['target'].split(':')[0]}: {r['reason']}"
                                     for r in missing))
        lines.append(f"Not measured here ({len(missing)} figures):")
        lines += [f"  {reason}" for reason in reasons[:8]]
        if len(reasons) > 8:
            lines.append(f"  … and {len(reasons) - 8} more reasons (--json lists every figure)")
    return "\n".join(lines)


def text(advice: A.Advice) -> str:
    inst = advice.instance
    head = f"adcompare advise {inst.label()}: f: R^{inst.n} → R^{inst.m}, {A.DTYPE} on {A.DEVICE}"
    parts = [head, correctness_text(advice), verdict_text(advice), setup_text(advice), sparsity_text(advice),
             ways_text(advice), summary_text(advice)]
    return "\n\n".join(p for p in parts if p) + "\n"


# --- the command -------------------------------------------------------------------------------------
def check_out(path: Path) -> Path:
    """--out as given, or UserError before anything is measured: a folder, a place that cannot be
    written, or a page that cannot be built here (no plotly, no source checkout)."""
    if path.is_dir():
        raise UserError(f"--out {path} is a directory; give the page's file name, e.g. {path / 'advise.html'}")
    folder = path.resolve().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--out {path}: cannot write in {folder}")
    from adcompare.run import advice_page
    advice_page.check_can_build()
    return path


def main(args) -> int:
    options = parse_options(args.opt, args.problem, [name for name in FLAGS if hasattr(args, name)])
    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    A.check_budget(args.budget)
    out = check_out(args.out) if args.out is not None else None

    def progress(line: str) -> None:
        print(f"adcompare advise: {line.strip()}", file=sys.stderr, flush=True)

    advice = A.run_advice(args.problem, args.n, options, budget=args.budget, backends=args.backend,
                          quick=args.quick, log=progress)
    if args.json:
        print(json.dumps(advice.to_dict(), allow_nan=False))
    else:
        print(text(advice), end="")
    if out is not None:
        from adcompare.run import advice_page
        page = advice_page.write_page(advice, out)
        print(f"adcompare advise: page written to {page}", file=sys.stderr)
    if advice.interrupted:
        return 130
    if not advice.measured:
        print("adcompare advise: no figure was measured (see the reasons above)", file=sys.stderr)
        return 1
    return 0
