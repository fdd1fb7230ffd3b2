"""Query and path parameters, checked before anything else runs.

Every value a client can send is parsed here, and every malformed one raises
:class:`BadParameter` naming the parameter and what it accepts; the server
turns that into a 400 with a JSON body. Integers are ASCII digits only, so
``"²"`` (which ``str.isdigit`` accepts) and Arabic-Indic digits (which ``int``
accepts) are refused, and a bound on the digit count keeps ``int()`` from ever
seeing a 5,000-digit string, which it refuses with a ValueError of its own.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from multidict import MultiMapping

from ticksmith.errors import TicksmithError

MAX_SYMBOL_BYTES = 255  # the symbol rule of the ingest path: 1..255 UTF-8 bytes
_DIGITS = re.compile(r"[0-9]{1,18}")  # 18 digits: any value fits in an int64
_SHOWN_CHARS = 40


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
