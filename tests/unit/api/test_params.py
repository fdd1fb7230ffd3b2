"""Instants in a query: ns since the epoch, or ISO-8601 with an explicit zone."""

from __future__ import annotations

import pytest

from ticksmith.api import params
from ticksmith.api.params import BadParameter

NS = 1_732_459_200_000_000_000  # 2024-11-24T14:40:00Z


@pytest.mark.parametrize(
    ("raw", "ns"),
    [
        (str(NS), NS),
        ("0", 0),
        ("2024-11-24T14:40:00Z", NS),
        ("2024-11-24t14:40:00z", NS),  # RFC 3339 allows either case
        ("2024-11-24T09:40:00-05:00", NS),
        ("2024-11-24T20:10:00+05:30", NS),
        ("2024-11-24T14:40:00.5Z", NS + 500_000_000),
        ("2024-11-24T14:40:00.000000001Z", NS + 1),
        ("1969-12-31T23:59:59Z", -1_000_000_000),  # before every bar: still an instant
        ("9999-12-31T23:59:59Z", params.NS_MAX),  # after int64 ns: the rows its end selects
        ("0001-01-01T00:00:00Z", params.NS_MIN),
        (str(params.NS_MAX), params.NS_MAX),
    ],
)
def test_an_instant_is_ns_or_a_zoned_date_time(raw: str, ns: int) -> None:
    assert params.instant({"from": raw}, "from") == ns


def test_an_absent_instant_is_none() -> None:
    assert params.instant({}, "to") is None


@pytest.mark.parametrize(
    "raw",
    [
        "2024-11-24T14:40:00",  # no zone: a different instant on every client
        "2024-11-24 14:40:00Z",
        "2024-11-24T14:40Z",  # no seconds
        "2024-11-24T14:40:00 05:00",  # a + not written %2B arrives as a space
        "2024-11-24T14:40:00+0500",
        "2024-11-24T14:40:00+24:00",
        "2024-11-24T14:40:00.1234567890Z",  # finer than ns
        "2024-02-30T00:00:00Z",
        "2024-11-24T24:00:00Z",
        "2024-11-24",
        "²",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: int() takes it
        "\uff12\uff10\uff12\uff14-11-24T14:40:00Z",  # FULLWIDTH digits
        "-1",
        "+5",
        "1e18",
        "",
        str(params.NS_MAX + 1),
        "9" * 5_000,
        "now",
    ],
)
def test_anything_else_is_refused_naming_the_parameter(raw: str) -> None:
    with pytest.raises(BadParameter, match=r"^to must be ") as caught:
        params.instant({"to": raw}, "to")
    assert len(str(caught.value)) < 200
