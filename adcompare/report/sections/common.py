"""What the sections share: the context they read, the Section they return, and the text every
number carries (value with its 95 % CI, flags, the arms it came from, machine and commit).

Every number shown carries its machine and commit in the hover text; the full environment of
every run is in the runs section.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterable, Sequence

import plotly.graph_objects as go

from adcompare.backends import DTYPES
from adcompare.operators import JACOBIAN_STRATEGIES, OPERATORS
from adcompare.report import results as R
from adcompare.measure.numbers import fmt_interval
from adcompare.report.blocks import WARN, FacetedFigure, Styles, esc, fmt_measured, hover, label, note

GREY = "#6b7280"
QUICK_TEXT = ("smoke-test numbers from a quick run (<code>adcompare run --quick</code>: one process, few "
              "rounds): they show that the suite runs, not how fast anything is")


@dataclasses.dataclass
class Section:
    id: str
    title: str
    intro: str                                  # HTML
    blocks: list = dataclasses.field(default_factory=list)   # HTML strings and Charts


@dataclasses.dataclass
class Context:
    results: R.ResultSet
    styles: Styles
    registry_order: list[str]

    def machines(self, measurements: Iterable[R.Measurement]) -> list[str]:
        found = {m.run.machine for m in measurements}
        return [name for name in self.results.machines if name in found]

    def quick_machines(self, measurements: Iterable[R.Measurement] | None = None) -> list[str]:
        """Machines with at least one smoke-test number among `measurements` (default: all plotted)."""
        ms = self.results.measurements if measurements is None else measurements
        return self.machines(m for m in ms if m.quick)

    @functools.cached_property
    def quick_plotted(self) -> frozenset[str]:
        return frozenset(self.quick_machines())

    def panel_title(self, machine: str) -> str:
        return machine + (f" {WARN} quick run" if machine in self.quick_plotted else "")

    def faceted(self, machines: Sequence[str], facet_names: Sequence[str] = (), **kw) -> FacetedFigure:
        """A FacetedFigure with one panel per machine, titled with the machine's name (and its
        smoke-test mark)."""
        return FacetedFigure(machines, facet_names, titles=[self.panel_title(mc) for mc in machines], **kw)


# --- ordering --------------------------------------------------------------------------------

def dtype_order(name: str) -> int:
    return DTYPES.index(name) if name in DTYPES else len(DTYPES)


def op_order(name: str) -> int:
    names = list(OPERATORS)
    return names.index(name) if name in names else len(names)


def orders(extra: dict | None = None) -> dict:
    base = {"operator": sorted(OPERATORS, key=op_order), "dtype": list(DTYPES), "jacobian": list(JACOBIAN_STRATEGIES)}
    return {**base, **(extra or {})}


# --- the text of one number ------------------------------------------------------------------

def value_line(m: R.Measurement) -> str:
    """'4.02 µs [3.90, 4.10] · 95 % CI over 4 processes', or the value with why it has no CI."""
    if m.ci is None or m.figure.exact:
        return fmt_measured(m)
    return f"{fmt_measured(m)} · 95 % CI over {m.figure.processes} processes"


def parts_line(m: R.Measurement) -> str:
    """The arms the figure was computed from, each with its CI: 'vjp 4.02 µs [3.90, 4.10] · primal …'
    (an arm that is the figure itself, as an operator's own time is, is not repeated)."""
    return " · ".join(f"{label(name)} {fmt_interval(p.value, p.ci, 'seconds')}" for name, p in m.parts.items()
                      if (p.value, p.ci) != (m.value, m.ci))


def flags_line(m: R.Measurement) -> str:
    return f"{WARN} {', '.join(label(f) for f in m.flags)}" if m.flags else ""


def measured_hover(m: R.Measurement, *extra: str, value: str | None = None) -> str:
    """Hover text of one number: what it is, its value and CI, its arms, flags, machine, commit."""
    what = " · ".join(label(m.get(k)) for k in ("case", "operator", "strategy", "dtype") if m.get(k) is not None)
    return hover([f"<b>{label(m.get('target', '?'))}</b>", what, *extra,
                  value if value is not None else value_line(m), parts_line(m), flags_line(m),
                  "smoke test: quick run" if m.quick else "",
                  f"machine {label(m.run.machine)} · commit {label(m.run.short_commit)}"])


def symbols(ctx: Context, target: str, ms: Sequence[R.Measurement]) -> list[str]:
    """Per point: the target's marker, hollow where the figure is flagged as noisy."""
    return [ctx.styles.symbol(target, hollow=bool(m.noisy)) for m in ms]


def add_noisy_key(fig: FacetedFigure, ms: Sequence[R.Measurement], column: str) -> None:
    """A legend entry saying what a hollow marker means, when any point here is flagged."""
    if any(m.noisy for m in ms):
        fig.add(go.Scatter(x=[None], y=[None], mode="markers", name=f"hollow marker: flagged noisy {WARN} (hover)",
                           legendgroup="noisy", marker={"symbol": "circle-open", "size": 9, "color": GREY},
                           hoverinfo="skip"), column)


# --- notes under a section -------------------------------------------------------------------

def describe(m: R.Measurement) -> str:
    what = " ".join(str(m.get(k)) for k in ("target", "case", "operator", "strategy", "dtype") if m.get(k) is not None)
    return f"{what} on {m.run.machine}"


def caveats(ctx: Context, shown: Sequence[R.Measurement], benchmarks: Sequence[str]) -> list[str]:
    """Notes on the numbers of a section: smoke-test numbers, invalid numbers left out, numbers without a CI."""
    notes = []
    quick = ctx.quick_machines(shown)
    if quick:
        notes.append(note(f"{WARN} The numbers from {esc(', '.join(quick))} are {QUICK_TEXT}.", "quick"))
    invalid = [m for b in benchmarks for m in ctx.results.invalid_of(b)]
    if invalid:
        examples = "; ".join(f"{esc(describe(m))}: {esc(m.value)}" for m in invalid[:3])
        more = f" and {len(invalid) - 3} more" if len(invalid) > 3 else ""
        notes.append(note(f"{len(invalid)} number{'s' * (len(invalid) != 1)} here {'are' if len(invalid) != 1 else 'is'} "
                          f"zero or negative, which no time or ratio of times can be, and "
                          f"{'are' if len(invalid) != 1 else 'is'} not plotted: {examples}{more}.", "nodata"))
    no_ci = sum(1 for m in shown if m.ci is None)
    if no_ci:
        notes.append(note(f"{no_ci} of {len(shown)} numbers here have no 95 % CI (older results without a figures "
                          "file, or one process): they are drawn without error bars, and their hover says why."))
    return notes
