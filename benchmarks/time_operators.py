"""Steady-state time of every operator (preparation and compilation excluded)."""

from adcompare import measure

from .common import Family


class _Timed:
    """Times `block(run())` of an operator prepared once per process (asv calls setup per call)."""

    warmup_time = 0.02
    repeat = (3, 20, 0.5)      # at least 3 samples, at most 20, stop adding after ~0.5 s
    rounds = 1

    def setup(self, target, dtype, case, operator):
        self.check(target, dtype, case, operator)
        measure.use_compile_cache()
        p = measure.prepared(target, dtype, case, operator)
        self.run, self.block = p.run, p.block


class Operators(_Timed, Family, family="time_operators.Operators.time_operator"):
    version = "1"

    def time_operator(self, target, dtype, case, operator):
        self.block(self.run())


class Crossover(_Timed, Family, family="time_operators.Crossover.time_jacobian"):
    """Jacobian by forward vs reverse mode over an n × m grid with n·m fixed."""

    version = "1"

    def time_jacobian(self, target, dtype, case, operator):
        self.block(self.run())
