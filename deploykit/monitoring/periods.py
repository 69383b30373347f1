"""Periods and time windows: parse and check ``since``/``until``/``step`` once, for every caller.

Times are ISO 8601 (``2025-01-31T12:00:00+00:00``; naive means UTC) or epoch
seconds. ``until`` defaults to now, ``since`` to ``until`` minus a default span.
A period must be non-empty and cut into at most :data:`MAX_WINDOWS` windows; a
mistake is an :class:`~deploykit.errors.InvalidInputError` naming the parameter.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone
from typing import Any

from deploykit.errors import InvalidInputError
from deploykit.records import utcnow

__all__ = [
    "MAX_WINDOWS",
    "Period",
    "check_step",
    "flag_period",
    "friendly_step",
    "parse_duration",
    "parse_time",
    "period",
]

MAX_WINDOWS = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAST = datetime(9000, 1, 1, tzinfo=timezone.utc)  # far from datetime's year-9999 overflow
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LONGEST = 100 * 365 * 86400  # a century: past it a duration is a typo (or 'inf')


def parse_time(value: Any, param: str) -> datetime | None:
    """A datetime (UTC) from a datetime, epoch seconds or an ISO 8601 string; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = _from_epoch(float(value), param, value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise _bad_time(param, value) from None
        else:
            parsed = _from_epoch(seconds, param, value)
    else:
        raise _bad_time(param, value)
    parsed = parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed
    if not _EPOCH <= parsed < _LAST:
        raise _bad_time(param, value)
    return parsed


def parse_duration(text: str, flag: str, *, positive: bool = False) -> float:
    """Seconds from ``3600``, ``90m``, ``1h`` or ``2d`` (the CLI's and ``%deploy``'s
    ``--since``/``--step``); ``flag`` names the option in the error."""
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:]) if raw else None
    number = raw[:-1] if unit else raw
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        value = -1.0
    if not (value > 0 if positive else value >= 0) or not value <= _LONGEST:
        least = "more than 0" if positive else "0 or more"
        raise InvalidInputError(
            f"{flag} must be a duration such as 3600 (seconds), 90m, 1h or 2d, {least} "
            f"and at most 36500d. Got {text!r} instead."
        )
    return value


# the units of parse_duration, largest first
_LARGEST_FIRST = sorted(_UNITS.items(), key=lambda item: -item[1])


def friendly_step(seconds: float) -> str:
    """``seconds`` rounded up to a whole number of the largest unit not longer than it:
    87 -> "2m", 4000 -> "2h" (up, so that it cuts no more windows than ``seconds``)."""
    unit, size = next((u, n) for u, n in _LARGEST_FIRST if n <= seconds or n == 1)
    return f"{math.ceil(seconds / size)}{unit}"


def check_step(step: int, span: float, step_text: str, since_text: str) -> None:
    """Refuse a --step that cuts the --since period into more than MAX_WINDOWS windows,
    before anything is read, saying the smallest step that works."""
    windows = math.ceil(span / step)
    if windows <= MAX_WINDOWS:
        return
    period = since_text.strip() if since_text.strip()[-1:].isalpha() else f"{span:g}s"
    raise InvalidInputError(
        f"--step {step_text.strip()} cuts the {period} period into {windows:,} windows; at "
        f"most {MAX_WINDOWS:,} are allowed: use --step {friendly_step(span / MAX_WINDOWS)} "
        "or more."
    )


def flag_period(
    since: str, step: str | None, now: datetime
) -> tuple[datetime, datetime, int | None]:
    """(since, until, step in seconds) from the ``--since``/``--step`` flags of
    ``deploykit estimated`` and ``%deploy estimated``, checked in the flags' words before
    anything is read; one clock reading, so ``--since 24h`` is 86,400 s exactly."""
    back = parse_duration(since, "--since")
    window = None
    if step is not None:
        window = max(1, round(parse_duration(step, "--step", positive=True)))
        check_step(window, back, step, since)
    return now - timedelta(seconds=back), now, window


def _from_epoch(seconds: float, param: str, value: Any) -> datetime:
    if not math.isfinite(seconds) or not 0 <= seconds < _LAST.timestamp():
        raise _bad_time(param, value)
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _bad_time(param: str, value: Any) -> InvalidInputError:
    return InvalidInputError(
        f"The {param!r} parameter must be an ISO 8601 time such as 2025-01-31T12:00:00+00:00 "
        f"or epoch seconds, between 1970 and 9000. Got {value!r} instead."
    )


@dataclasses.dataclass(frozen=True)
class Period:
    """[since, until), cut into windows of ``step`` seconds (the last may be shorter)."""

    since: datetime
    until: datetime
    step: int | None = None

    @property
    def edges(self) -> list[datetime]:
        """Window boundaries, since to until; [] without a step."""
        if self.step is None:
            return []
        out = []
        at = self.since
        while at < self.until:
            out.append(at)
            at += timedelta(seconds=self.step)
        return [*out, self.until]


def period(
    since: Any = None,
    until: Any = None,
    step: Any = None,
    *,
    default_span: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> Period:
    """A checked :class:`Period` from loose arguments (see the module docstring)."""
    end = parse_time(until, "until") or (now or utcnow())
    start = parse_time(since, "since") or end - default_span
    if start >= end:
        raise InvalidInputError(
            f"The 'since' parameter must be before 'until'. Got since={start.isoformat()} "
            f"and until={end.isoformat()}, an empty period."
        )
    if step is not None:
        ok = isinstance(step, int) and not isinstance(step, bool) and step >= 1
        if not ok:
            raise InvalidInputError(
                "The 'step' parameter must be a whole number of seconds >= 1. "
                f"Got {step!r} instead."
            )
        span = (end - start).total_seconds()
        if span / step > MAX_WINDOWS:
            raise InvalidInputError(
                f"The 'step' parameter cuts {span:.0f} s into {math.ceil(span / step)} windows; "
                f"at most {MAX_WINDOWS} are allowed. Use step >= {math.ceil(span / MAX_WINDOWS)}."
            )
    return Period(start, end, step)
