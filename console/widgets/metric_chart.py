"""A metric-against-step line chart that marks non-finite values and can draw a bound."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from console.downsample import ChartSeries

NONFINITE_COLOR = "red"
BOUND_COLOR = "red"
# Legend symbols, shown in the title: plotext's own legend raises IndexError when a labelled
# series has no point inside the canvas, so no series is given a plotext label.
MARKER_SYMBOLS = {"braille": "⣀", "dot": "•"}
NONFINITE_SYMBOL = "x"


@dataclass(frozen=True)
class ChartLine:
    label: str
    series: ChartSeries
    color: str
    marker: str = "braille"


class MetricChart(PlotextPlot):
    """Plots downsampled lines; non-finite values appear as red `x` at the top of the chart."""

    DEFAULT_CSS = """
    MetricChart {
        height: 1fr;
        min-height: 8;
    }
    """

    def __init__(self, title: str, *, log_y: bool = False, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.chart_title = title
        self.log_y = log_y
        self.point_count = 0
        self._log_scale = False
        self._lines: list[ChartLine] = []
        self._bound: float | None = None
        self._bound_label = "bound"

    @property
    def columns(self) -> int:
        """Data columns worth computing for this width: braille draws two points per cell."""
        return max(40, self.size.width * 2)

    def show_lines(self, lines: list[ChartLine], bound: float | None = None, bound_label: str = "bound") -> None:
        """Replace what the chart shows; the figure is drawn at the next render."""
        self._lines, self._bound, self._bound_label = lines, bound, bound_label
        finite = [y for line in lines for y in line.series.ys]
        self.point_count = len(finite) + sum(len(line.series.nonfinite_xs) for line in lines)
        self._log_scale = bool(self.log_y and finite and min(finite) > 0 and (bound is None or bound > 0))
        self.refresh()

    def render(self) -> RenderResult:
        # plotext 5.3 log-transforms a figure's data in place while building it, so a figure can
        # be built only once: each render draws a fresh one.
        for log_scale in dict.fromkeys((self._log_scale, False)):
            self._plot = self._draw(log_scale)
            try:
                return super().render()
            except (ValueError, IndexError, ZeroDivisionError):
                # plotext raises on some log-scale ranges and on canvases too small to draw on; a
                # chart that cannot draw must not crash the screen.
                continue
        return Text(f"{self.chart_title}: no room to draw at {self.size.width}×{self.size.height}", style="dim")

    def _draw(self, log_scale: bool) -> Plot:
        plt = Plot()
        lines, bound = self._lines, self._bound
        finite = [y for line in lines for y in line.series.ys]
        nonfinite_xs = [x for line in lines for x in line.series.nonfinite_xs]
        if log_scale:
            plt.yscale("log")
        legend = []
        for line in lines:
            if line.series.xs:
                plt.plot(line.series.xs, line.series.ys, color=line.color, marker=line.marker)
                legend.append(f"{MARKER_SYMBOLS.get(line.marker, line.marker)} {line.label}")
        if bound is not None and math.isfinite(bound):
            plt.hline(bound, BOUND_COLOR)
            legend.append(f"— {self._bound_label} {bound:g}")
        if nonfinite_xs:
            top = max(finite + ([bound] if bound is not None else []), default=0.0)
            plt.scatter(nonfinite_xs, [top] * len(nonfinite_xs), marker=NONFINITE_SYMBOL, color=NONFINITE_COLOR)
            legend.append(f"{NONFINITE_SYMBOL} non-finite")
        if not finite and not nonfinite_xs:
            legend.append("no values yet")
        plt.title(f"{self.chart_title}: " + "   ".join(legend))
        return plt
