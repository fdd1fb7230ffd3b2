"""Query and path parameters, checked before anything else runs.

Every value a client can send is parsed here, and every malformed one raises
:class:`BadParameter` naming the parameter and what it accepts; the server
turns that into a 400 with a JSON body. Integers are ASCII digits only, so
``"²"`` (which ``str.isdigit`` accepts) and Arabic-Indic digits (which ``int``
accepts) are refused, and a bound on the digit count keeps ``int()`` from ever
seeing a 5,000-digit string, which it refuses with a ValueError of its own.
An instant is such an integer of ns since the epoch, or an RFC 3339 date-time
(ISO-8601 with seconds and an explicit zone: ``Z`` or ``±HH:MM``); a local time
without a zone would mean a different instant on every client, so it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta

from multidict import MultiMapping

from ticksmith.errors import TicksmithError

MAX_SYMBOL_BYTES = 255  # the symbol rule of the ingest path: 1..255 UTF-8 bytes
_DIGITS = re.compile(r"[0-9]{1,18}")  # 18 digits: any value fits in an int64
_NS_DIGITS = re.compile(r"[0-9]{1,19}")  # today's ns have 19 digits
_SHOWN_CHARS = 40
_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
# Any bar start is an int64: a date-time beyond one selects the rows its end would.
NS_MIN, NS_MAX = -(2**63), 2**63 - 1
INSTANT_FORMS = (
    f"ns since the epoch in ASCII digits (0..{NS_MAX}), or ISO-8601 with seconds and "
    "Z or ±HH:MM (+ written %2B)"
)


class BadParameter(TicksmithError, ValueError):
    """A parameter the client sent is malformed; the message says what it accepts."""


def only(query: MultiMapping[str], allowed: Collection[str]) -> dict[str, str]:
    """The query as a plain dict; an unknown or repeated parameter is refused."""
    for name in query:
        if name not in allowed:
            accepted = ", ".join(sorted(allowed)) or "none"
            raise BadParameter(f"unknown parameter {_shown(name)}; accepted: {accepted}")
        if len(query.getall(name)) > 1:
            raise BadParameter(f"parameter {name} given more than once")
    return dict(query)


def integer(query: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    """An integer in low..high written in ASCII digits, or `default` when absent."""
    raw = query.get(name)
    if raw is None:
        return default
    if _DIGITS.fullmatch(raw) is None or not low <= int(raw) <= high:
        raise BadParameter(f"{name} must be an integer in {low}..{high}, got {_shown(raw)}")
    return int(raw)


def one_of(query: Mapping[str, str], name: str, choices: tuple[int, ...]) -> int:
    """One of `choices` (the first when absent), written in ASCII digits."""
    raw = query.get(name)
    if raw is None:
        return choices[0]
    if _DIGITS.fullmatch(raw) is None or int(raw) not in choices:
        raise BadParameter(f"{name} must be one of {list(choices)} (ms), got {_shown(raw)}")
    return int(raw)


def label(query: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    """One of `choices` as written, or None when absent."""
    raw = query.get(name)
    if raw is not None and raw not in choices:
        raise BadParameter(f"{name} must be one of {list(choices)}, got {_shown(raw)}")
    return raw


def some_of(query: Mapping[str, str], name: str, choices: tuple[int, ...]) -> tuple[int, ...]:
    """A comma-separated list of `choices` (all of them when absent), each once,
    in the order given."""
    raw = query.get(name)
    if raw is None:
        return choices
    items = raw.split(",")
    if not all(_DIGITS.fullmatch(i) and int(i) in choices for i in items):
        raise BadParameter(
            f"{name} must be a comma-separated list of {list(choices)} (ms), got {_shown(raw)}"
        )
    return tuple(dict.fromkeys(map(int, items)))


def instant(query: Mapping[str, str], name: str) -> int | None:
    """An instant as ns since the epoch (kept within int64), or None when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    digits = _NS_DIGITS.fullmatch(raw) is not None
    ns = int(raw) if digits else _iso_ns(raw)
    if ns is None or (digits and ns > NS_MAX):
        raise BadParameter(f"{name} must be {INSTANT_FORMS}, got {_shown(raw)}")
    return min(max(ns, NS_MIN), NS_MAX)


def _iso_ns(raw: str) -> int | None:
    """ns since the epoch of an ISO-8601 date-time with a zone, else None."""
    match = _INSTANT.fullmatch(raw)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    sign, off_hours, off_minutes = match[8], int(match[9] or 0), int(match[10] or 0)
    if off_hours > 23 or off_minutes > 59:
        return None
    try:
        wall = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # February 30th, hour 24, second 60, year 0
        return None
    offset = (off_hours * 60 + off_minutes) * 60 * (-1 if sign == "-" else 1)
    seconds = (wall - _EPOCH) // _SECOND - offset
    return seconds * 1_000_000_000 + int((match[7] or "").ljust(9, "0"))


def symbol(raw: str, name: str = "symbol") -> str:
    """A symbol: 1..255 bytes of UTF-8."""
    try:
        size = len(raw.encode())
    except UnicodeEncodeError:  # a lone surrogate, from a percent-escape that is not UTF-8
        size = 0
    if not 1 <= size <= MAX_SYMBOL_BYTES:
        raise BadParameter(f"{name} must be 1..{MAX_SYMBOL_BYTES} bytes of UTF-8")
    return raw


def _shown(raw: str) -> str:
    """The value as the error message quotes it: cut short, so an error stays small."""
    cut = raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "…"
    return repr(cut)
