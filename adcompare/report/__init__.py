"""The adcompare report: one self-contained HTML page built from asv results and adcompare's figures.

Modules: `results` (reading asv's JSON, defensively), `figures` (each figure's value, 95 % CI and
flags), `runinfo` (what each run was measured on), `example` (the worked example, computed live),
`crossover` (forward vs reverse over the n × m grid: ties, crossover points with CIs), `blocks`
(colours, faceted charts, tables, numbers with CIs, markup-safe labels), `sections` (one module
per part of the page, discovered), `page` (template, atomic write, `build_report`), `command`
(the CLI subcommand).
"""

from adcompare.report.command import add_arguments, command_help, main  # noqa: F401


def build_report(results_dir, out_path):
    """Build the report from `results_dir` into `out_path` (see `adcompare.report.page`)."""
    from adcompare.report.page import build_report as build

    return build(results_dir, out_path)
