"""Time left on the long loops (recommender epochs, the SAE sweep, analysis), for their progress lines.

The estimate is linear: `left = elapsed / done * (total - done)`, the mean time per unit so far times the
units still to run, printed as `ETA 3m05s`. Early-stopped training does not know its total in advance:
its callers pass the units left under a stated assumption and say which.
"""
from __future__ import annotations


def duration(seconds: float) -> str:
    """`42s`, `3m05s` or `1h02m` (seconds rounded; negative counts as 0)."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def eta(elapsed_s: float, done: int, left: int) -> str:
    """`ETA 3m05s`: `elapsed_s / done * left` (an empty string before the first unit is done)."""
    if done <= 0:
        return ""
    return f"ETA {duration(elapsed_s / done * max(left, 0))}"
