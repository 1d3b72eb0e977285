"""Memory as deterministic numbers: tape bytes of reverse mode, peak device bytes on GPU."""

from .common import Figure


class TapeMemory(Figure, benchmark="memory.TapeMemory.track_tape_bytes"):
    """Bytes one VJP keeps for its backward pass; forward mode keeps none."""

    def track_tape_bytes(self, *params):
        return self.measure()


class PeakDeviceMemory(Figure, benchmark="memory.PeakDeviceMemory.track_peak_device_bytes"):
    """Peak device memory of one run beyond what was allocated before it (GPU targets)."""

    def track_peak_device_bytes(self, *params):
        return self.measure()
