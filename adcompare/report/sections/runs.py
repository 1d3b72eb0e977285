"""Machines, versions and runs: the environment behind every number, the runs merged into each
commit, the users' own problems measured (their source and its hash), and what each benchmark
produced."""

from __future__ import annotations

from collections import defaultdict

from adcompare.families import all_benchmarks, family_of
from adcompare.report import results as R
from adcompare.report import runinfo as info
from adcompare.report.blocks import esc, note, table
from adcompare.report.sections.common import Context, Section, dtype_order

ORDER = 80
TITLE = "Machines, versions and runs"


def flatten(node, prefix="") -> list[tuple[str, str]]:
    """Nested dicts and lists of dicts as ("threads.blas.0.num_threads", "1") rows."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node):
        items = enumerate(node)
    else:
        text = ", ".join(map(str, node)) if isinstance(node, list) else "none" if node is None else str(node)
        return [(prefix.rstrip("."), text)]
    return [row for k, v in items for row in flatten(v, f"{prefix}{k}.")]


def benchmark_rows(ctx: Context) -> list[list]:
    """One row per benchmark: every family's (from the registry, measured here or not), then any
    other benchmark the results hold (an older suite's)."""
    declared = all_benchmarks()
    names = list(declared) + sorted(set(ctx.results.outcomes) - set(declared))
    rows = []
    for name in names:
        c = ctx.results.outcomes.get(name, {})
        owner = family_of(name)
        unit = declared[name].unit if name in declared else R.unit_of(name, ctx.results.benchmarks.get(name))
        with_ci = sum(1 for m in ctx.results.of(name) if m.ci is not None)
        rows.append([owner.title if owner else "(not in this suite)", name, unit,
                     declared[name].doc if name in declared else "", c.get("ok", 0), with_ci, c.get("skipped", 0),
                     c.get("failed", 0), c.get("invalid", 0)])
    return rows


def user_problem_rows(ctx: Context) -> list[list]:
    """One row per user's problem in the plotted results: machine, problem, its source, the sha256
    of the source (the version of the function every number of it was measured from), numbers."""
    counts: dict[tuple, int] = defaultdict(int)
    for m in ctx.results.measurements:
        if m.figure is not None and m.figure.source is not None:
            case = R.parsed(m)
            counts[(m.run.machine, case[0] if case else "?", m.figure.source, m.figure.source_hash or "unknown")] += 1
    return [[*key[:3], key[3][:12], count] for key, count in counts.items()]


def build(ctx: Context) -> Section:
    intro = ("<p>Every number above comes from one of these runs; hover text in each chart names its machine "
             "and commit. Charts show each machine's newest commit; older runs are listed for reference. "
             "Fields the run did not record read <i>unknown</i>.</p>")
    dtypes: dict[str, set] = defaultdict(set)
    for m in ctx.results.measurements:
        if m.get("dtype"):
            dtypes[str(m.run.path)].add(str(m.get("dtype")))
    latest = {r.path for r in ctx.results.latest}
    fields = {
        "commit": lambda r: r.short_commit,
        "commit date": lambda r: r.date,
        "recorded": info.recorded_at,
        "plotted": lambda r: "yes" if r.path in latest else "no (older commit)",
        "runs merged": info.runs_summary,
        "CPU": info.cpu,
        "cores": info.cores,
        "threads": info.threads,
        "BLAS kernel": info.blas_kernel,
        "GPU": info.gpu,
        "dtypes measured": lambda r: ", ".join(sorted(dtypes.get(str(r.path), ()), key=dtype_order)) or "none",
        "grid": info.grid,
        "OS": lambda r: f"{r.machine_info.get('os', 'unknown')} · {r.machine_info.get('arch', 'unknown')}",
        "RAM": info.ram,
        "machine.json": lambda r: r.machine_note or "read",
        "asv environment": lambda r: r.env_name,
    }
    for name in info.version_names(ctx.results.runs):
        fields[name] = lambda r, name=name: info.versions(r).get(name, "unknown")
    runs = ctx.results.runs
    rows = [[label, *(fn(r) for r in runs)] for label, fn in fields.items()]
    blocks = [table(["", *(r.machine for r in runs)], rows, cls="runs")]

    records = [[r.machine, r.short_commit, *rec.values()] for r in ctx.results.latest for rec in info.run_records(r)]
    blocks += ["<h3>Runs merged into the plotted results</h3>",
               note("One row per <code>adcompare run</code> whose numbers are in a plotted commit's results; a "
                    "<i>quick</i> run's numbers are smoke-test numbers.")]
    blocks.append(table(["machine", "commit", *info.RUN_FIELDS], records, cls="compact run-records") if records
                  else note("No run records (older results whose environment record has none).", "nodata"))

    users = user_problem_rows(ctx)
    if users:
        blocks += ["<h3>Your own problems</h3>",
                   note("Problems loaded with <code>--problems</code>, <code>$ADCOMPARE_PROBLEMS</code> or an entry "
                        "point: the file or module each came from and the sha256 of that file. Every number of a "
                        "problem comes from this one version of it: a run of a changed file drops the older "
                        "version's numbers."),
                   table(["machine", "problem", "source", "sha256", "numbers"], users, cls="compact user-problems")]
    blocks += ["<h3>Measurement families and their benchmarks</h3>",
               note("Every measurement family of the suite, each benchmark it declares, and what these results hold "
                    "of it. n/a (skipped) combinations cannot run on that machine — no GPU, operator not applicable, "
                    "too large; failed ones raised an error during the run; invalid ones recorded a time or ratio "
                    "≤ 0 and are not plotted."),
               table(["family", "asv benchmark", "unit", "what it measures", "numbers", "with a 95 % CI", "n/a",
                      "failed", "invalid"], benchmark_rows(ctx), cls="compact")]
    details = []
    for run in ctx.results.runs:
        if run.env:
            details.append(f"<details><summary>{esc(run.machine)} · {esc(run.short_commit)}: full environment "
                           f"record</summary>{table(['key', 'value'], flatten(run.env), cls='compact')}</details>")
    if details:
        blocks += ["<h3>Environment records</h3>", *details]
    return Section("runs", TITLE, intro, blocks)
