"""Number, duration and age formats shared by the screens."""

from __future__ import annotations

import math
from datetime import datetime

BLANK = "–"


def number(value: float | None, digits: int = 4) -> str:
    """Format a metric with `digits` significant digits; non-finite values stay visible as nan/inf."""
    if value is None:
        return BLANK
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return BLANK
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def points(value: float | None) -> str:
    """Format an accuracy difference (a fraction) in percentage points."""
    if value is None:
        return BLANK
    return f"{value * 100:+.1f} pts"


def duration(seconds: float | None) -> str:
    """Format seconds as 42s, 3m05s, 2h07m or 3d04h."""
    if seconds is None or not math.isfinite(seconds):
        return BLANK
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def age(then: datetime | None, now: datetime) -> str:
    """Format the time since `then` in its largest unit: 12s, 5m, 3h, 2d."""
    if then is None:
        return BLANK
    seconds = max(0.0, (now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def rate(value: float | None) -> str:
    """Format a per-second rate: three significant digits, or thousands separators from 100 on."""
    if value is None:
        return BLANK
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
