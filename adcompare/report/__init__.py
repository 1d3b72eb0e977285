"""The adcompare report: one self-contained HTML page built from asv results.

Modules: `results` (reading asv's JSON), `runinfo` (what each run was measured on),
`example` (the worked example, computed live), `crossover` (forward vs reverse over the n × m
grid), `blocks` (colours, faceted charts, tables), `sections` (what each part of the page shows),
`page` (template, atomic write, `build_report`), `command` (the CLI subcommand).
"""

from adcompare.report.command import add_arguments, command_help, main  # noqa: F401


def build_report(results_dir, out_path):
    """Build the report from `results_dir` into `out_path` (see `adcompare.report.page`)."""
    from adcompare.report.page import build_report as build

    return build(results_dir, out_path)
