"""The throughput chart's geometry: bars in proportion, failed parts within them, a round scale."""

from datetime import UTC, datetime, timedelta

from spinach.inspection import MinuteCount
from spinach_dashboard.chart import chart, merge, nice_ceiling, sparkline

START = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def minutes(*counts: tuple[int, int]) -> list[MinuteCount]:
    return [
        MinuteCount(START + timedelta(minutes=n), processed=p, failed=f)
        for n, (p, f) in enumerate(counts)
    ]


def test_the_scale_tops_at_a_round_number() -> None:
    assert [nice_ceiling(n) for n in (0, 1, 2, 3, 7, 10, 11, 40, 99, 101, 4321)] == [
        1, 1, 2, 5, 10, 10, 20, 50, 100, 200, 5000,
    ]  # fmt: skip


def test_bars_are_in_proportion_and_their_failed_part_stands_on_their_foot() -> None:
    c = chart(minutes((0, 0), (5, 0), (10, 4)), width=344, height=120, left=44, axis=20, pad=0)
    assert c.top == 10 and c.plot_height == 100
    empty, half, full = c.bars
    assert (empty.height, half.height, full.height) == (0, 50, 100)
    assert (full.y, full.failed_y, full.failed_height) == (0, 60, 40)
    assert half.failed_height == 0
    assert [bar.x for bar in c.bars] == [45.0, 145.0, 245.0]  # 100 px a minute, 2 px apart
    assert all(bar.width == 98 for bar in c.bars)
    assert [(t.value, t.y) for t in c.ticks] == [(0, 100), (5, 50), (10, 0)]
    padded = chart(minutes((10, 0)), width=344, height=120, left=44, axis=20, pad=10)
    assert (padded.bars[0].y, padded.ticks[-1].y) == (10, 10)  # room above for the top number
    assert (c.processed, c.failed, c.minutes) == (15, 4, 3)
    assert [bar.processed for bar in c.busy] == [5, 10]


def test_an_idle_hour_draws_an_empty_chart_on_a_scale_of_one() -> None:
    c = chart(minutes(*[(0, 0)] * 60))
    assert c.top == 1 and c.minutes == 60 and c.busy == []
    assert all(bar.height == 0 for bar in c.bars)
    assert chart([], minutes=60).minutes == 60


def test_queues_are_added_minute_by_minute_by_their_time() -> None:
    one = minutes((1, 0), (2, 1))
    later = [
        MinuteCount(START + timedelta(minutes=n + 1), processed=10, failed=0) for n in range(2)
    ]
    merged = merge([one, later], minutes=2)
    assert [(m.minute - START, m.processed, m.failed) for m in merged] == [
        (timedelta(minutes=1), 12, 1),
        (timedelta(minutes=2), 10, 0),
    ]


def test_a_sparkline_has_no_scale_and_fits_a_table_cell() -> None:
    s = sparkline(minutes((3, 1), (6, 0)))
    assert (s.width, s.height, s.ticks) == (120, 24, [])
    assert s.bars[1].height == 24
