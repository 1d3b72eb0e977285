"""Preparation / compile time and first-call latency, kept apart from steady-state time."""

from adcompare import grid, measure

from .common import Family


class Prepare(Family, family="compile.Prepare.track_prepare_seconds"):
    """Seconds `Backend.prepare` takes in a fresh benchmark process: convert, trace, JIT-compile
    and one warm-up run. Under `adcompare run` (forkserver) the frameworks and their lazily
    loaded AD modules are already imported; FirstCall measures everything from cold."""

    version = "1"
    unit = "seconds"

    def setup(self, target, dtype, case, operator):
        self.check(target, dtype, case, operator)
        self.value = measure.prepared(target, dtype, case, operator).prepare_seconds

    def track_prepare_seconds(self, target, dtype, case, operator):
        return self.value


class FirstCall(Family, family="compile.FirstCall.timeraw_first_call"):
    """A user's first call from a fresh interpreter: import, prepare, run once (float64)."""

    version = "1"
    repeat = (1, 3, 20.0)

    def setup(self, target, case, operator):
        self.check(target, case, operator)
        reason = grid.unavailable_reason(self.family, (target, case, operator))
        if reason:
            raise NotImplementedError(reason)

    def timeraw_first_call(self, target, case, operator):
        return measure.first_call_code(target, grid.FIRST_CALL_DTYPE, case, operator)
