"""Randomized multiple interleaved trials (RMIT): the alternatives of one figure, timed side by side.

Each alternative (an `Arm`) is a zero-argument call that does the measured work and waits for
its result. The arms of a figure run in the same process, in *rounds*: in every round each arm
runs one block of calls, in a fresh random order (Abedi & Brecht, ICPE 2017). Whatever the
machine does during a round (a neighbour's burst, a frequency change) hits all arms of that
round alike, so per-round ratios cancel it, and the random order keeps a fixed position in the
round from favouring one arm.

- **Blocks of at least a few ms.** A block repeats its call until it lasts `block_seconds`
  (calibrated once per arm, after warm-up), so timer resolution and per-call jitter are small
  against the block; the figure is seconds per call, block time / calls.
- **Warm first.** Each arm is called until two consecutive calibration blocks agree, so lazy
  initialisation, allocator growth and caches are out of the timed rounds.
- **No garbage collector inside blocks.** Objects alive after preparation are frozen
  (`gc.freeze`, never undone: a measurement process ends after its job), so the untimed
  collection between rounds is cheap and a collection never lands inside one arm's block only.
- **Adaptive stopping.** Rounds go on until `enough(rounds)` says the figure is precise
  enough, between `min_rounds` and `max_rounds`, or the time budget is spent; arms so slow that
  `min_rounds` would take over four budgets stop at FLOOR_ROUNDS.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import random
import time
from typing import Any, Callable, Sequence

DEFAULT_BLOCK_SECONDS = 5e-3
MAX_CALLS_PER_BLOCK = 1_000_000
FLOOR_ROUNDS = 5


@dataclasses.dataclass(frozen=True)
class Arm:
    """One alternative of a figure: `call()` runs the measured work and waits for it.
    `block_seconds` overrides the rounds' block length for this arm."""

    name: str
    call: Callable[[], Any]
    block_seconds: float | None = None


@dataclasses.dataclass
class Rounds:
    """Per-round seconds per call of every arm, in round order (index r is round r of each arm)."""

    seconds: dict[str, list[float]]        # arm -> seconds per call, one per round
    calls: dict[str, int]                  # arm -> calls per block
    started: list[float]                   # perf_counter at the start of each round
    warmup_seconds: dict[str, list[float]]  # arm -> seconds per call of the calibration blocks

    @property
    def count(self) -> int:
        return len(self.started)

    def log_ratios(self, a: str, b: str) -> list[float]:
        """ln(t_a / t_b) of every round: the paired, drift-cancelling comparison."""
        return [math.log(x / y) for x, y in zip(self.seconds[a], self.seconds[b])]


def time_block(call: Callable[[], Any], calls: int) -> float:
    """Seconds for `calls` back-to-back calls, the garbage collector off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            call()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def calibrate(call: Callable[[], Any], block_seconds: float, max_blocks: int = 3) -> tuple[int, list[float]]:
    """(calls per block lasting ≥ block_seconds, seconds per call of the calibration blocks).

    The call count grows until a block is long enough, then blocks repeat until two in a row
    agree within 10 % (the arm is warm) or `max_blocks` is reached."""
    calls, history = 1, []
    for _ in range(64):
        elapsed = time_block(call, calls)
        history.append(elapsed / calls)
        if elapsed >= block_seconds or calls >= MAX_CALLS_PER_BLOCK:
            break
        grow = block_seconds / max(elapsed, 1e-9) * 1.2
        calls = min(MAX_CALLS_PER_BLOCK, max(calls * 2, int(calls * grow)))
    for _ in range(max_blocks):
        elapsed = time_block(call, calls)
        history.append(elapsed / calls)
        if abs(history[-1] / history[-2] - 1) < 0.10:
            break
    return calls, history


def interleaved_rounds(arms: Sequence[Arm], *, block_seconds: float = DEFAULT_BLOCK_SECONDS,
                       min_rounds: int = 10, max_rounds: int = 60, budget_seconds: float = math.inf,
                       enough: Callable[[Rounds], bool] | None = None,
                       rng: random.Random | None = None) -> Rounds:
    """Time every arm in randomized interleaved rounds; see the module docstring."""
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be distinct, got {names}")
    rng = rng or random.Random()
    calls, warm = {}, {}
    for arm in arms:
        calls[arm.name], warm[arm.name] = calibrate(arm.call, arm.block_seconds or block_seconds)
    gc.freeze()   # what exists now is kept alive anyway: later collections skip it
    result = Rounds({a.name: [] for a in arms}, calls, [], warm)
    begin = time.perf_counter()
    order = list(arms)
    while result.count < max_rounds:
        spent = time.perf_counter() - begin
        if result.count >= min_rounds and (spent > budget_seconds or (enough and enough(result))):
            break
        if result.count >= FLOOR_ROUNDS and spent > 4 * budget_seconds:
            break
        rng.shuffle(order)
        result.started.append(time.perf_counter())
        for arm in order:
            result.seconds[arm.name].append(time_block(arm.call, calls[arm.name]) / calls[arm.name])
        gc.collect()
    return result
