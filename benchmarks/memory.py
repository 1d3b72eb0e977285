"""Memory as deterministic numbers: tape bytes of reverse mode, peak device bytes on GPU."""

from adcompare import measure

from .common import Family


class TapeMemory(Family, family="memory.TapeMemory.track_tape_bytes"):
    """Bytes one VJP keeps for its backward pass (engine counter, torch saved-tensor hooks,
    jax.vjp residuals, XLA memory analysis for jax-jit). Grows with depth; forward mode keeps none."""

    version = "1"
    unit = "bytes"

    def setup(self, target, dtype, case):
        self.check(target, dtype, case)
        measure.use_compile_cache()
        self.value = measure.tape_bytes(target, dtype, case)

    def track_tape_bytes(self, target, dtype, case):
        return self.value


class PeakDeviceMemory(Family, family="memory.PeakDeviceMemory.track_peak_device_bytes"):
    """Peak device memory of one run beyond what was allocated before it (GPU targets)."""

    version = "1"
    unit = "bytes"

    def setup(self, target, dtype, case, operator):
        self.check(target, dtype, case, operator)
        measure.use_compile_cache()
        self.value = measure.peak_device_bytes(target, dtype, case, operator)

    def track_peak_device_bytes(self, target, dtype, case, operator):
        return self.value
