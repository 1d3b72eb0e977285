"""Numbers as people read them: seconds and bytes scaled to three significant digits, a value
with its 95 % CI, a speed-up factor. Plain text (no plotly), so the report and the command line
print figures the same way."""

from __future__ import annotations

import math

SECONDS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
BYTES = (("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0))   # decimal, as asv and the axes print them


def _scale(value: float, unit: str) -> tuple[float, str]:
    """(divisor, suffix) that puts |value| in [1, 1000) for seconds and bytes."""
    steps = SECONDS if unit == "seconds" else BYTES if unit == "bytes" else ()
    for suffix, scale in steps:
        if abs(value) >= scale:
            return scale, " " + suffix
    if steps:
        suffix, scale = steps[-1]
        return scale, " " + suffix
    return 1.0, "×" if unit == "ratio" else ("" if unit in ("", "unknown") else " " + unit)


def _decimals(x: float) -> int:
    """Decimals that give three significant digits to x (0.0376 -> 4, 4.02 -> 2, 59.3 -> 1)."""
    if x == 0 or not math.isfinite(x):
        return 0
    return max(0, 2 - math.floor(math.log10(abs(x))))


def fmt_value(value: float, unit: str) -> str:
    """4.02e-6 s -> '4.02 µs', 8190 bytes -> '8.19 kB', 0.0376 ratio -> '0.0376×'."""
    if not math.isfinite(value):
        return "n/a"
    scale, suffix = _scale(value, unit)
    if unit == "bytes" and scale == 1.0:
        return f"{value:.0f} B"
    x = value / scale
    return f"{x:.{_decimals(x)}f}{suffix}"


def fmt_seconds(s: float) -> str:
    return fmt_value(s, "seconds")


def fmt_interval(value: float, ci: tuple[float, float] | None, unit: str) -> str:
    """'4.02 µs [3.90, 4.10]': the bounds in the value's scale and precision; '(no CI)' without one."""
    text = fmt_value(value, unit)
    if ci is None:
        return f"{text} (no CI)"
    if ci[0] == ci[1] == value:
        return f"{text} (exact)"
    scale, _ = _scale(value, unit)
    d = _decimals(value / scale) if not (unit == "bytes" and scale == 1.0) else 0
    return f"{text} [{ci[0] / scale:.{d}f}, {ci[1] / scale:.{d}f}]"


def times(factor: float) -> str:
    """1.04 -> '1.0×', 23.4 -> '23×'."""
    return f"{factor:.1f}×" if factor < 10 else f"{factor:,.0f}×"
