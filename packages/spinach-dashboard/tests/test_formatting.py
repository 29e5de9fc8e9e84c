"""How numbers, durations and times look on the pages."""

from datetime import UTC, datetime, timedelta

from spinach_dashboard.formatting import data, duration, number, relative, when


def test_numbers_get_thousands_separators() -> None:
    assert [number(0), number(1234567), number(2.5), number(3.0), number(None)] == [
        "0",
        "1,234,567",
        "2.5",
        "3",
        "-",
    ]


def test_durations_read_at_a_glance() -> None:
    assert [duration(s) for s in (0.25, 42, 185, 7800, 3 * 86400 + 4 * 3600, None)] == [
        "250 ms",
        "42 s",
        "3 min 5 s",
        "2 h 10 min",
        "3 d 4 h",
        "-",
    ]


def test_relative_times_say_ago_or_in() -> None:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert relative(now - timedelta(minutes=3), now) == "3 min ago"
    assert relative(now + timedelta(seconds=42), now) == "in 42 s"
    assert relative(None, now) == ""


def test_times_are_utc_time_elements_for_the_browser() -> None:
    moment = datetime(2025, 1, 1, 13, 30, tzinfo=UTC)
    assert str(when(moment)) == (
        '<time datetime="2025-01-01T13:30:00.000Z">2025-01-01 13:30:00 UTC</time>'
    )
    assert str(when(None)) == "-"


def test_arguments_are_shown_as_json_text() -> None:
    assert data(["<b>", {"a": 1}]) == '[\n  "<b>",\n  {\n    "a": 1\n  }\n]'
