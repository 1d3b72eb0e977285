"""The A/A control: one operator prepared once and timed as two arms of the same rounds. Its true
ratio is 1, so its CI is the noise floor every other ratio on the machine is read against."""

from __future__ import annotations

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.measure.jobs import TIMING, ArmSpec, Job

NOISE_FLOOR = Benchmark(
    "ratios.NoiseFloor.track_aa_ratio", ("target", "dtype", "case", "operator"), "ratio",
    "The A/A control: one operator on both sides of a ratio; its true value is 1.",
    compare_as="A/A control")

NOISE_FLOOR_CASE = "rosenbrock:1000"
NOISE_FLOOR_OPERATOR = "vjp"


@register_family
class NoiseFloor(Family):
    name = "noise-floor"
    title = "A/A control"
    order = 30
    benchmarks = (NOISE_FLOOR,)

    def jobs(self, grid, target):
        case, op = NOISE_FLOOR_CASE, NOISE_FLOOR_OPERATOR
        yield Job(TIMING, target, "float64", (ArmSpec("A", case, op), ArmSpec("A'", case, op)),
                  (NOISE_FLOOR.figure((target, "float64", case, op), "ratio", ("A", "A'"),
                                      parts=(("A", "A"), ("A'", "A'"))),))
