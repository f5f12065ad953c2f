"""When a schedule's ticks fall: 5-field cron expressions in a time zone, and fixed intervals.

Pure: no clock is read here; callers pass the instants (ms since the epoch, UTC).

Cron: `minute hour day-of-month month day-of-week`, each `*`, a value, a range `a-b`, a step
`*/n`, `a-b/n` or `a/n` (from a to the field's end), or a comma list of these; months and days
of the week may be named (`jan`..`dec`, `sun`..`sat`, any case); day of week 0 and 7 are Sunday.
As in Vixie cron, when both day fields are restricted a day matches either of them. `@hourly`,
`@daily` (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`) are the usual shorthands.
Ticks are wall-clock minutes of the schedule's time zone (IANA name, `zoneinfo`). On a daylight
saving change a local time that does not exist that day is skipped, and one that occurs twice
fires once (at its first occurrence).

Intervals (`@every N` seconds) tick at the multiples of N seconds since the epoch, so the tick
after any instant is a function of that instant alone (no anchor to store); the time zone does
not matter to them.

A cron that can never fire (`0 0 31 2 *`) is refused when parsed: `InvalidParameter` naming the
cron field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from raftq.common.errors import InvalidParameter

MINUTE_MS: Final = 60_000
DAY_MS: Final = 24 * 60 * MINUTE_MS
EVERY_MIN_S: Final = 1
EVERY_MAX_S: Final = 366 * 24 * 3600  # a year (and a day): longer belongs in a cron
# How far ahead a tick is searched for: 8 years cover a 29 February (a leap year is skipped
# every century) whatever the time zone's changes. A valid cron fires much sooner.
_HORIZON_YEARS: Final = 8
# Windows behind `now` in which `latest_tick_ms` looks for the latest tick, smallest first, so
# a frequent cron scans few ticks and a rare one still finds its latest.
_LOOKBACK_MS: Final = (3_600_000, DAY_MS, 32 * DAY_MS, 367 * DAY_MS, 9 * 366 * DAY_MS)

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_WEEKDAYS: Final = {
    name: n for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_SHORTHANDS: Final = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# The most days each month ever has (February: 29, in leap years).
_MONTH_DAYS_MAX: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class CronSpec:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    days_restricted: bool
    weekdays_restricted: bool
    zone: ZoneInfo


@dataclass(frozen=True)
class IntervalSpec:
    every_ms: int


TickSpec = CronSpec | IntervalSpec


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidParameter(f"{name!r} is not a known time zone", field="tz") from None


def interval(every_s: int) -> IntervalSpec:
    if not EVERY_MIN_S <= every_s <= EVERY_MAX_S:
        raise InvalidParameter(
            f"an interval is {EVERY_MIN_S} to {EVERY_MAX_S} seconds, not {every_s}",
            field="every_s",
        )
    return IntervalSpec(every_ms=every_s * 1000)


def parse_cron(text: str, tz: str = "UTC") -> CronSpec:
    """The cron expression `text` in time zone `tz`; `InvalidParameter` (field `cron`, or `tz`)
    naming the cron field at fault."""
    expression = _SHORTHANDS.get(text.strip().lower(), text)
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidParameter(
            "a cron expression has 5 fields: minute hour day-of-month month day-of-week, "
            f"not {len(fields)}",
            field="cron",
        )
    minute, hour, day, month, weekday = fields
    spec = CronSpec(
        minutes=_field(minute, "minute", 0, 59, {}),
        hours=_field(hour, "hour", 0, 23, {}),
        days=_field(day, "day-of-month", 1, 31, {}),
        months=_field(month, "month", 1, 12, _MONTHS),
        weekdays=frozenset(v % 7 for v in _field(weekday, "day-of-week", 0, 7, _WEEKDAYS)),
        days_restricted=not day.startswith("*"),
        weekdays_restricted=not weekday.startswith("*"),
        zone=zone(tz),
    )
    possible = any(d <= _MONTH_DAYS_MAX[m - 1] for m in spec.months for d in spec.days)
    if spec.days_restricted and not spec.weekdays_restricted and not possible:
        raise InvalidParameter(
            f"day-of-month {day!r} never occurs in month {month!r}: the cron never fires",
            field="cron",
        )
    next_tick_ms(spec, 0)  # any other reason it never fires (a time zone's gaps) is said now
    return spec


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    def refuse(why: str) -> InvalidParameter:
        return InvalidParameter(f"{name} {text!r}: {why}", field="cron")

    def value(part: str) -> int:
        if part.lower() in names:
            return names[part.lower()]
        if not part.isdecimal() or len(part) > 2:
            raise refuse(f"{part!r} is not a number" + (" or a name" if names else ""))
        number = int(part)
        if not low <= number <= high:
            raise refuse(f"{number} is outside {low}-{high}")
        return number

    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdecimal() or not 1 <= int(step_text) <= high - low + 1:
                raise refuse(f"the step {step_text!r} is not 1-{high - low + 1}")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = value(start), value(end)
            if first > last:
                raise refuse(f"the range {base!r} runs backwards")
        else:
            first = value(base)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def next_tick_ms(spec: TickSpec, after_ms: int) -> int:
    """The first tick strictly after `after_ms`."""
    if isinstance(spec, IntervalSpec):
        return (after_ms // spec.every_ms + 1) * spec.every_ms
    local = datetime.fromtimestamp(after_ms / 1000, spec.zone).replace(tzinfo=None)
    candidate = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit_year = candidate.year + _HORIZON_YEARS
    while True:
        candidate = _next_local(spec, candidate, limit_year)
        tick_ms = _utc_ms(candidate.replace(tzinfo=spec.zone))  # fold 0: the first occurrence
        exists = _local(tick_ms, spec.zone) == candidate
        if exists and tick_ms > after_ms:
            return tick_ms
        # A local time in a gap (it does not exist that day), or the repeat of an hour whose
        # first occurrence is at or before `after_ms`: not a tick.
        candidate += timedelta(minutes=1)


def latest_tick_ms(spec: TickSpec, due_ms: int, now_ms: int) -> int:
    """The latest tick in [due_ms, now_ms], where `due_ms` is a tick at or before `now_ms`: the
    one tick a schedule fires after it fell behind (the ticks in between are skipped)."""
    if now_ms <= due_ms:
        return due_ms
    if isinstance(spec, IntervalSpec):
        return due_ms + (now_ms - due_ms) // spec.every_ms * spec.every_ms
    for window_ms in _LOOKBACK_MS:
        latest = None
        tick_ms = next_tick_ms(spec, max(due_ms - 1, now_ms - window_ms))
        while tick_ms <= now_ms:
            latest, tick_ms = tick_ms, next_tick_ms(spec, tick_ms)
        if latest is not None:
            return latest
    return due_ms


def _next_local(spec: CronSpec, start: datetime, limit_year: int) -> datetime:
    """The first wall-clock minute at or after `start` that the cron matches."""
    moment = start
    while moment.year <= limit_year:
        if moment.month not in spec.months:
            year, month = (
                (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
            )
            moment = datetime(year, month, 1)
        elif not _day_matches(spec, moment):
            moment = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
        elif moment.hour not in spec.hours:
            moment = moment.replace(minute=0) + timedelta(hours=1)
        elif moment.minute not in spec.minutes:
            moment += timedelta(minutes=1)
        else:
            return moment
    raise InvalidParameter(
        f"the cron does not fire within {_HORIZON_YEARS} years in {spec.zone.key}", field="cron"
    )


def _day_matches(spec: CronSpec, moment: datetime) -> bool:
    in_days = moment.day in spec.days
    in_weekdays = (moment.weekday() + 1) % 7 in spec.weekdays  # Python's Monday is 0
    if spec.days_restricted and spec.weekdays_restricted:
        return in_days or in_weekdays
    return in_days and in_weekdays


def _utc_ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def _local(ms: int, zone_info: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC).astimezone(zone_info).replace(tzinfo=None)
