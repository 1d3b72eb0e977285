"""Preparation (compile) time and a fresh interpreter's first call, apart from steady state."""

from .common import Figure


class Prepare(Figure, benchmark="compile.Prepare.track_prepare_seconds"):
    """Seconds to convert, trace, compile and warm up one operator, in a fresh process."""

    def track_prepare_seconds(self, *params):
        return self.measure()


class FirstCall(Figure, benchmark="compile.FirstCall.track_first_call_seconds"):
    """A user's first call: import, prepare and run once, in a fresh interpreter."""

    def track_first_call_seconds(self, *params):
        return self.measure()
