"""The throughput chart's geometry: bars of jobs processed and failed per minute, as numbers.

The server draws the chart as inline SVG (templates/chart.html): no script and no library, so
it shows without JavaScript, and a strict Content-Security-Policy holds. This module only
computes where each bar goes; the template writes the elements (and escapes every text).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from spinach.inspection import MinuteCount


@dataclass(frozen=True, slots=True)
class Bar:
    """One minute: a bar as tall as the jobs processed, its failed part drawn over its foot."""

    minute: datetime
    processed: int
    failed: int
    retried: int
    x: float
    width: float
    #: Top and height of the whole bar (processed), and of its failed part.
    y: float
    height: float
    failed_y: float
    failed_height: float


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    #: Left margin (the scale's numbers) and the plot's height (the rest is the time axis).
    left: int
    plot_height: int
    #: The value at the top of the scale.
    top: int
    ticks: list[Tick]
    processed: int
    failed: int
    retried: int
    #: Minutes the chart spans (its bars, or the window asked when no queue had any).
    minutes: int

    @property
    def busy(self) -> list[Bar]:
        """The minutes in which a job finished (what the table of figures lists)."""
        return [bar for bar in self.bars if bar.processed or bar.failed]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... that is at least `value` (at least 1)."""
    if value <= 1:
        return 1
    power = int(10 ** (len(str(value)) - 1))  # the largest power of ten not above `value`
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def merge(series: Iterable[Sequence[MinuteCount]], minutes: int) -> list[MinuteCount]:
    """The counts of several queues added minute by minute: the last `minutes` minutes.

    Minutes are matched by their time, not by position, so that queues read on both sides of
    a minute's turn still add up right.
    """
    totals: dict[datetime, list[int]] = {}
    for counts in series:
        for count in counts:
            total = totals.setdefault(count.minute, [0, 0, 0])
            total[0] += count.processed
            total[1] += count.failed
            total[2] += count.retried
    return [
        MinuteCount(minute, processed=total[0], failed=total[1], retried=total[2])
        for minute, total in sorted(totals.items())[-minutes:]
    ]


def chart(
    counts: Sequence[MinuteCount],
    *,
    width: int = 960,
    height: int = 190,
    left: int = 48,
    axis: int = 20,
    pad: int = 10,
    ticks: int = 2,
    minutes: int | None = None,
    round_scale: bool = True,
) -> Chart:
    """Where the bars of `counts` (oldest minute first) go in a `width` x `height` picture.

    `pad` leaves room above the scale's top for its number. `round_scale` tops the scale at
    a round number (a scale with ticks reads better), else at
    the busiest minute (a sparkline uses its height fully).
    """
    plot_height = height - axis
    plot_width = width - left
    peak = max((count.processed for count in counts), default=0)
    top = nice_ceiling(peak) if round_scale else max(1, peak)
    slot = plot_width / max(1, len(counts))
    gap = min(2.0, slot / 4)

    def y_of(value: int) -> float:
        return round(plot_height - (plot_height - pad) * value / top, 2)

    bars = []
    for n, count in enumerate(counts):
        failed = min(count.failed, count.processed)
        y, failed_y = y_of(count.processed), y_of(failed)
        bars.append(
            Bar(
                minute=count.minute,
                processed=count.processed,
                failed=count.failed,
                retried=count.retried,
                x=round(left + n * slot + gap / 2, 2),
                width=round(slot - gap, 2),
                y=y,
                height=round(plot_height - y, 2),
                failed_y=failed_y,
                failed_height=round(plot_height - failed_y, 2),
            )
        )
    values = sorted({top * n // ticks for n in range(ticks + 1)}) if ticks else []
    scale = [Tick(y_of(value), value) for value in values]
    return Chart(
        bars=bars,
        width=width,
        height=height,
        left=left,
        plot_height=plot_height,
        top=top,
        ticks=scale,
        processed=sum(count.processed for count in counts),
        failed=sum(count.failed for count in counts),
        retried=sum(count.retried for count in counts),
        minutes=len(counts) if minutes is None else minutes,
    )


def sparkline(counts: Sequence[MinuteCount]) -> Chart:
    """A small chart of `counts` for a table cell: no scale, no time axis."""
    return chart(counts, width=120, height=24, left=0, axis=0, pad=0, ticks=0, round_scale=False)
