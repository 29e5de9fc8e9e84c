"""How values look on the pages: numbers, ages, times, arguments. Jinja filters, all pure.

Times are rendered as ``<time datetime="...">`` in UTC; the page's script rewrites them in the
browser's time zone (without JavaScript they stay in UTC, and say so).
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape


def number(value: int | float | None) -> str:
    """1234567 as "1,234,567"; None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def duration(seconds: float | None) -> str:
    """A number of seconds as "850 ms", "42 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def when(moment: datetime | None) -> Markup:
    """A moment as a <time> element, in UTC, that the page's script shows in local time."""
    if moment is None:
        return Markup("-")
    moment = moment.astimezone(UTC)
    iso = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    text = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}">{}</time>').format(iso, text)


def relative(moment: datetime | None, now: datetime | None = None) -> str:
    """ "3 min ago" or "in 42 s" from `now` (this host's clock)."""
    if moment is None:
        return ""
    delta = (moment - (now or datetime.now(UTC))).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(-delta)} ago"


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago `moment` was, as a duration ("3 min 5 s"): how long a job has waited or run."""
    if moment is None:
        return "-"
    return duration(((now or datetime.now(UTC)) - moment).total_seconds())


def period(every: timedelta | None) -> str:
    """A periodic task's period: "1 h", "30 s"."""
    return "-" if every is None else duration(every.total_seconds())


def iso(moment: datetime) -> str:
    """A moment in UTC as ISO 8601, for the page's script to show in local time."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def clock(moment: datetime) -> str:
    """A minute of the chart as "14:05 UTC" (the page's script shows it in local time)."""
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def data(value: Any) -> str:
    """Job arguments as indented JSON text (escaped by the template like any other text)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def status_name(status: Any) -> str:
    """A JobStatus as a word: "queued", "running"..."""
    return str(getattr(status, "name", status)).lower()


def percent(part: int, whole: int) -> str:
    return "-" if whole <= 0 else f"{100 * part / whole:.0f} %"


FILTERS = {
    "number": number,
    "duration": duration,
    "when": when,
    "relative": relative,
    "age": age,
    "period": period,
    "iso": iso,
    "clock": clock,
    "data": data,
    "status_name": status_name,
    "percent": percent,
    "e": escape,
}
