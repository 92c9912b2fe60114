"""Min/max downsampling of a growing series, so a chart of 100,000 steps draws as fast as one of 100."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class ChartSeries:
    """Points ready to draw: at most about two per column, plus the steps with non-finite values."""

    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    nonfinite_xs: list[float] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.xs and not self.nonfinite_xs


class MinMaxSeries:
    """A series kept as at most `max_buckets` min/max buckets of equal point count.

    Appending is amortised O(1): when the buckets overflow, neighbours merge pairwise and the
    points per bucket double. Drawing reads only the buckets, so its cost does not grow with the
    run. Non-finite values are not averaged away: their x positions are kept (thinned the same
    way) so a chart can mark them.
    """

    def __init__(self, max_buckets: int = 1024):
        if max_buckets < 2 or max_buckets % 2:
            raise ValueError(f"invalid max_buckets {max_buckets}: use an even number of at least 2")
        self.max_buckets = max_buckets
        self.points_per_bucket = 1
        self.count = 0
        # Each bucket is [x_first, x_last, y_min, y_max, points].
        self._buckets: list[list[float]] = []
        self._nonfinite: list[float] = []
        self._nonfinite_stride = 1
        self._nonfinite_seen = 0

    def append(self, x: float, y: float) -> None:
        self.count += 1
        if not math.isfinite(y):
            self._append_nonfinite(x)
            return
        buckets = self._buckets
        if buckets and buckets[-1][4] < self.points_per_bucket:
            last = buckets[-1]
            last[1] = x
            if y < last[2]:
                last[2] = y
            elif y > last[3]:
                last[3] = y
            last[4] += 1
            return
        self._buckets.append([x, x, y, y, 1])
        if len(self._buckets) > self.max_buckets:
            self._merge_pairs()

    def columns(self, width: int) -> ChartSeries:
        """Return the series folded into at most `width` columns of (min, max) points."""
        series = ChartSeries(nonfinite_xs=list(self._nonfinite))
        if not self._buckets:
            return series
        width = max(1, width)
        if len(self._buckets) <= width and self.points_per_bucket == 1:
            series.xs = [bucket[0] for bucket in self._buckets]
            series.ys = [bucket[2] for bucket in self._buckets]
            return series

        x_start, x_end = self._buckets[0][0], self._buckets[-1][1]
        span = (x_end - x_start) or 1.0
        columns: dict[int, list[float]] = {}
        for x_first, x_last, low, high, _ in self._buckets:
            index = min(width - 1, int((x_first - x_start) / span * width))
            column = columns.get(index)
            if column is None:
                columns[index] = [x_first, x_last, low, high]
            else:
                column[1] = x_last
                column[2] = min(column[2], low)
                column[3] = max(column[3], high)
        for x_first, x_last, low, high in columns.values():
            middle = (x_first + x_last) / 2
            # Two points per column: a line through them draws the column's full range.
            series.xs.extend((middle, middle))
            series.ys.extend((low, high))
        return series

    def _merge_pairs(self) -> None:
        merged = []
        for index in range(0, len(self._buckets) - 1, 2):
            left, right = self._buckets[index], self._buckets[index + 1]
            merged.append([left[0], right[1], min(left[2], right[2]), max(left[3], right[3]), left[4] + right[4]])
        if len(self._buckets) % 2:
            merged.append(self._buckets[-1])
        self._buckets = merged
        self.points_per_bucket *= 2

    def _append_nonfinite(self, x: float) -> None:
        self._nonfinite_seen += 1
        if (self._nonfinite_seen - 1) % self._nonfinite_stride:
            return
        self._nonfinite.append(x)
        if len(self._nonfinite) > self.max_buckets:
            self._nonfinite = self._nonfinite[::2]
            self._nonfinite_stride *= 2
