"""The API's OpenAPI 3.0 document; the contract tests hold the server to it."""

from __future__ import annotations

from typing import Any

from ticksmith import __version__
from ticksmith.api import forming_doc, pages
from ticksmith.api.params import NS_MAX
from ticksmith.api.schema import ARROW, BAD, NOT_FOUND, SYMBOL, TEXT, column
from ticksmith.bar import MEASURE, SERVED, START, START_COLUMN

__all__ = ["ARROW", "document"]


def _interval(intervals_ms: tuple[int, ...]) -> dict[str, Any]:
    return {
        "name": "interval",
        "in": "query",
        "required": False,
        "description": "Bar interval in milliseconds; one of the configured intervals.",
        "schema": {"type": "integer", "enum": list(intervals_ms), "default": intervals_ms[0]},
    }


def _activity(labels: tuple[str, ...]) -> dict[str, Any]:
    return {
        "name": "activity",
        "in": "query",
        "required": False,
        "description": "An activity bar set (tick, volume or dollar bars, docs/bars.md), "
        "`type:threshold`; in place of `interval`, not with it. `start` is then the "
        "bar's first tick's event time.",
        "schema": {"type": "string", "enum": list(labels)},
    }


_limit = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": "Rows to return at most: the newest without `from`/`to`, else the oldest "
    "of the range (`next` then links to the rest).",
    "schema": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 100},
}
_instant_schema = {
    "oneOf": [
        {"type": "integer", "format": "int64", "minimum": 0, "maximum": NS_MAX},
        {"type": "string", "format": "date-time"},
    ]
}


def _instant(name: str, side: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"{side} of the range [from, to) of bar starts: ns since the epoch, or an "
        "RFC 3339 date-time with seconds and a zone (`Z` or `±HH:MM`, `+` written `%2B`), "
        "e.g. `2024-11-24T14:40:00Z`. A time without a zone is refused; `from` after `to` "
        "is refused. With either, the rows are the range's oldest `limit` bars.",
        "schema": _instant_schema,
    }


_next = {
    "type": "string",
    "nullable": True,
    "description": "Only with `from` or `to`: path and query of the range's next page (the "
    "same request from the first bar the limit left out); null when the range is complete.",
}
_link = {
    "description": 'With `from` or `to`, when the limit cut the range: `<next>; rel="next"`.',
    "schema": {"type": "string"},
}
_page_limit = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": "Symbols per page.",
    "schema": {
        "type": "integer",
        "minimum": 1,
        "maximum": pages.MAX_LIMIT,
        "default": pages.DEFAULT_LIMIT,
    },
}
_after = {
    "name": "after",
    "in": "query",
    "required": False,
    "description": "Cursor: the page starts after this symbol (the last of the page before).",
    "schema": TEXT,
}


def _rows(activity: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time bars say their `interval_ms`; activity bars their `bar_type` and `threshold`."""
    props = {START_COLUMN: column(START)} | {field.name: column(field) for field in SERVED}
    return {
        "type": "object",
        "required": ["symbol", "rows"] if activity else ["symbol", "interval_ms", "rows"],
        "properties": {
            "symbol": {"type": "string"},
            "interval_ms": {"type": "integer"},
            "bar_type": {"type": "string", "enum": list(MEASURE)},
            "threshold": {"type": "number"},
            "next": _next,
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["start"],
                    "properties": props,
                    "additionalProperties": extra or False,
                },
            },
        },
    }


def _frame_op(
    summary: str, schema: str, intervals_ms: tuple[int, ...], activity: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [
            SYMBOL,
            _interval(intervals_ms),
            *([_activity(activity)] if activity else []),
            _limit,
            _instant("from", "Start (inclusive)"),
            _instant("to", "End (exclusive)"),
        ],
        "responses": {
            "200": {
                "description": "Newest rows, or a range's rows (bars whose start is in "
                "[from, to)), oldest first. Arrow IPC stream when asked for with "
                f"`Accept: {ARROW}`; a range's `next` is then in the `Link` header only.",
                "headers": {"Link": _link},
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
                    ARROW: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "400": BAD,
            "404": NOT_FOUND,
        },
    }


def document(intervals_ms: tuple[int, ...], activity: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document for a service configured with these bar intervals and
    activity bar sets (labels)."""
    plain = {"application/json": {"schema": {"type": "object"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "ticksmith", "version": __version__},
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Process is up.",
                    "responses": {"200": {"description": "Up.", "content": plain}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Partitions assigned and warm-up done.",
                    "responses": {
                        "200": {"description": "Ready.", "content": plain},
                        "503": {"description": "Not ready.", "content": plain},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics.",
                    "responses": {
                        "200": {
                            "description": "Text exposition format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/v1/symbols": {
                "get": {
                    "summary": "Symbols held by this instance, a page at a time.",
                    "description": "Sorted. Follow `next` until it is null to see them all.",
                    "parameters": [_page_limit, _after],
                    "responses": {
                        "200": {
                            "description": "One page of sorted symbols.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Symbols"}
                                }
                            },
                        },
                        "400": BAD,
                    },
                }
            },
            "/v1/symbols/{symbol}/bars": {
                "get": _frame_op("Closed bars.", "Bars", intervals_ms, activity)
            },
            "/v1/symbols/{symbol}/indicators": {
                "get": _frame_op(
                    "Closed bars with every configured indicator.",
                    "Indicators",
                    intervals_ms,
                    activity,
                )
            },
            "/v1/symbols/{symbol}/forming": {"get": forming_doc.operation(intervals_ms)},
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "owner": {
                            "type": "object",
                            "nullable": True,
                            "properties": {
                                "partition": {"type": "integer"},
                                "client_id": {"type": "string", "nullable": True},
                                "host": {"type": "string", "nullable": True},
                            },
                        },
                    },
                },
                "Symbols": {
                    "type": "object",
                    "required": ["symbols", "next"],
                    "properties": {
                        "symbols": {
                            "type": "array",
                            "maxItems": pages.MAX_LIMIT,
                            "items": {"type": "string"},
                        },
                        "next": {
                            "type": "string",
                            "nullable": True,
                            "description": "Path and query of the next page; null on the last.",
                        },
                    },
                    "additionalProperties": False,
                },
                "Bars": _rows(bool(activity)),
                "Indicators": _rows(bool(activity), {"type": "number", "nullable": True}),
                "Forming": forming_doc.schema(),
            }
        },
    }
