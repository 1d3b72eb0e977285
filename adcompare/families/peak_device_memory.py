"""Peak device memory of one run beyond what was allocated before it, on GPU targets (the
framework's own peak-allocated statistics). Counted once per run."""

from __future__ import annotations

from adcompare.backends import DTYPES
from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cases import sweep_cases
from adcompare.families.profile import PRODUCT_OPERATORS
from adcompare.families.tape import COUNTS
from adcompare.ids import Target
from adcompare.measure import prepared
from adcompare.measure.jobs import COUNT, ArmSpec, Job
from adcompare.problems import all_problems

PEAK = Benchmark(
    "memory.PeakDeviceMemory.track_peak_device_bytes", ("target", "dtype", "case", "operator"), "bytes",
    "Peak device memory of one run beyond what was allocated before it (GPU targets).",
    repeated=False, compare_as="peak device memory")


@register_family
class PeakDeviceMemory(Family):
    name = "peak-device-memory"
    title = "peak device memory"
    order = 51
    benchmarks = (PEAK,)

    def jobs(self, grid, target):
        if Target.parse(target).device == "cpu":
            return
        dtypes = DTYPES if grid == "wide" else ("float64",)
        for dtype in dtypes:
            arms, figures = [], []
            for problem in all_problems():
                if problem.nested:
                    continue   # its derivatives differentiate an optimisation: minutes per call
                for c in sweep_cases(problem):
                    for op in PRODUCT_OPERATORS:
                        arms.append(ArmSpec(f"peak@{c}/{op}", c, op, self.name, "peak-bytes"))
                        figures.append(PEAK.figure((target, dtype, c, op), "bytes", (f"peak@{c}/{op}",)))
            yield Job(COUNT, target, dtype, tuple(arms), tuple(figures), COUNTS)

    def count(self, job, arm):
        return prepared.peak_device_bytes(job.target, job.dtype, arm.case, arm.operator)
