"""The protocol-day axis shared by the swimmer plot and the recovery curves: linear, compressed after a knee.

Treatment, the DLT window, CRS and the first response all fall in the first weeks, while follow-up runs for
months or years; on a linear axis the first weeks would shrink to a few millimetres. So days up to
:data:`KNEE_DAY` (8 weeks) keep the width a linear axis would give them, and when follow-up goes further the
later days share :data:`LATE_SHARE` of the width, still linear within that part. Tick labels are real days,
and the late part is shaded so the change of scale is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Last day drawn at full scale: 8 weeks after the first infusion.
KNEE_DAY = 56
#: Share of the width the days after the knee get when they are compressed.
LATE_SHARE = 0.4
#: about one tick per this many inches, never two closer than MIN_GAP_IN
TICK_IN = 0.5
MIN_GAP_IN = 0.35
#: weeks, fortnights, 4-week months, quarters, half-years, years: tick steps in days
STEPS = (7, 14, 28, 56, 91, 182, 364)


@dataclass(frozen=True)
class DayScale:
    low: float
    high: float

    @property
    def compressed(self) -> bool:
        """The days after the knee would take more than LATE_SHARE of a linear axis."""
        return self.high > KNEE_DAY > self.low and (self.high - KNEE_DAY) / (self.high - self.low) > LATE_SHARE

    def _knots(self) -> tuple[list[float], list[float]]:
        """Day -> share of the width at the axis ends and the knee, extended linearly far beyond both ends."""
        far = 1e6
        if not self.compressed:
            span = self.high - self.low
            return [self.low - far, self.high + far], [-far / span, 1 + far / span]
        early, late = self.low, self.high
        share = 1 - LATE_SHARE
        before, after = share / (KNEE_DAY - early), LATE_SHARE / (late - KNEE_DAY)
        days = [early - far, early, KNEE_DAY, late, late + far]
        return days, [-far * before, 0.0, share, 1.0, 1.0 + far * after]

    def forward(self, days: ArrayLike) -> NDArray[np.float64]:
        xp, fp = self._knots()
        return np.interp(np.asarray(days, dtype=float), xp, fp)

    def inverse(self, shares: ArrayLike) -> NDArray[np.float64]:
        xp, fp = self._knots()
        return np.interp(np.asarray(shares, dtype=float), fp, xp)

    def share(self, day: float) -> float:
        return float(self.forward([day])[0])

    def ticks(self, width_in: float) -> list[int]:
        """Tick days: multiples of a week-based step, about one per :data:`TICK_IN`, day 0 and (when compressed)
        the knee always among them, and no two closer than :data:`MIN_GAP_IN` (the later one is dropped)."""
        if not self.compressed:
            days = _multiples(self.low, self.high, _step((self.high - self.low) / _room(width_in)))
        else:
            share = 1 - LATE_SHARE
            early = _multiples(self.low, KNEE_DAY, _step((KNEE_DAY - self.low) / _room(width_in * share)))
            late = _multiples(KNEE_DAY + 1, self.high, _step((self.high - KNEE_DAY) / _room(width_in * LATE_SHARE)))
            days = [*early, KNEE_DAY, *late]
        fixed = {0, KNEE_DAY} if self.compressed else {0}
        kept: list[int] = []
        for day in sorted({*days, *(d for d in fixed if self.low <= d <= self.high)}):
            if kept and (self.share(day) - self.share(kept[-1])) * width_in < MIN_GAP_IN:
                if day not in fixed:
                    continue
                if kept[-1] not in fixed:
                    kept.pop()
            kept.append(day)
        return kept


def _room(width_in: float) -> int:
    """How many ticks ``width_in`` inches hold (at least 2)."""
    return max(2, int(width_in / TICK_IN))


def _step(wanted: float) -> int:
    return next((step for step in STEPS if step >= wanted), STEPS[-1])


def _multiples(low: float, high: float, step: int) -> list[int]:
    return list(range(math.ceil(low / step) * step, math.floor(high) + 1, step))
