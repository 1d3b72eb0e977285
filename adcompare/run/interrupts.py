"""Ctrl-C and SIGTERM during a run: stop measuring, save everything measured, then stop.

A run has three phases, and a signal means something different in each:

1. **Measuring.** The first signal raises KeyboardInterrupt where the campaign is; the campaign
   kills the job in flight and returns what its finished jobs recorded.
2. **Saving** (the environment record, the figures file, the run record, asv's results file).
   Signals are blocked (`held`): a signal stays pending until the files are written, and the
   processes started while saving (the thread probe, asv's discovery of the benchmarks) inherit
   the blocked mask, so a Ctrl-C sent to the whole process group cannot kill them halfway.
3. **Publishing** (asv's pages and the report, built in scratch and swapped in whole). Skipped
   once a signal has arrived; a signal during it abandons it, and the previous pages stay.

SIGKILL cannot be caught: then nothing in results/ is touched until the saving phase, and every
file there is replaced whole (`store.files.write_atomically`), so a kill at any moment leaves
each file as it was or as it is meant to be.

For tests, $ADCOMPARE_INTERRUPT_AT=PHASE[:SIGNAL[:group]] makes the run send itself SIGNAL (TERM,
INT or KILL; default TERM) when it reaches the named checkpoint (`CHECKPOINTS`); with `group`, to
its whole process group, as Ctrl-C at a terminal does.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
CHECKPOINT_ENV = "ADCOMPARE_INTERRUPT_AT"
# The named moments of a run, in order.
CHECKPOINTS = ("planned", "measuring", "measured", "environment", "figures-file", "run-record", "asv-results",
               "publishing", "report", "published")


class Interrupts:
    """The run's SIGINT / SIGTERM handler and what it has received."""

    def __init__(self):
        self.received: list[int] = []
        self._raising = True

    def install(self) -> "Interrupts":
        for sig in SIGNALS:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.received.append(signum)
        if self._raising:
            self._raising = False       # once: the code that catches it must be able to finish
            raise KeyboardInterrupt

    def quiet(self) -> None:
        """From now on a signal is only noted (the campaign calls this as it finishes, so no
        signal between its end and the saving phase can unwind what it measured)."""
        self._raising = False

    @property
    def interrupted(self) -> bool:
        pending = signal.sigpending() if hasattr(signal, "sigpending") else set()
        return bool(self.received) or bool(pending & set(SIGNALS))

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Signals wait (blocked, pending) while the body runs; noted, not raised, afterwards."""
        self._raising = False
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)   # pending signals arrive here, noted

    def arm(self) -> None:
        """From now on, a signal raises KeyboardInterrupt again (an abandonable phase)."""
        self._raising = not self.received


def checkpoint(name: str) -> None:
    """Mark reaching a named moment of the run (and, for tests, interrupt it there)."""
    phase, sig, whom = (os.environ.get(CHECKPOINT_ENV, "").split(":") + ["", ""])[:3]
    if phase == name:
        number = getattr(signal, f"SIG{sig or 'TERM'}")
        if whom == "group":
            os.killpg(0, number)
        else:
            os.kill(os.getpid(), number)
