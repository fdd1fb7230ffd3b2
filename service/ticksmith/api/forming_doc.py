"""The forming-bar operation in the OpenAPI document: its `bars` parameter, and
its rows (a bar in progress, its interval, every indicator and the ready flags)."""

from __future__ import annotations

from typing import Any

from ticksmith.api.schema import ARROW, BAD, NOT_FOUND, SYMBOL, column
from ticksmith.bar import SERVED, START, START_COLUMN


def _bars(intervals_ms: tuple[int, ...]) -> dict[str, Any]:
    return {
        "name": "bars",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "Bar intervals in milliseconds, comma-separated (`1000,60000`), each one "
        "of the configured intervals; all of them when absent.",
        "schema": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer", "enum": list(intervals_ms)},
        },
    }


def operation(intervals_ms: tuple[int, ...]) -> dict[str, Any]:
    return {
        "summary": "Bars in progress with every indicator's value as if they closed now.",
        "description": "Reading changes nothing. If no further tick lands in the bar, the "
        "output record published when it closes carries the same fields and values.",
        "parameters": [SYMBOL, _bars(intervals_ms)],
        "responses": {
            "200": {
                "description": "Per chosen interval, in the order asked, the bars in progress, "
                "oldest first: one, or none when no tick of the symbol is pending. Arrow IPC "
                f"stream when asked for with `Accept: {ARROW}`; `ready` is then a struct column.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Forming"}},
                    ARROW: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "400": BAD,
            "404": NOT_FOUND,
        },
    }


def schema() -> dict[str, Any]:
    props = {
        "interval_ms": {"type": "integer", "description": "The bar's interval."},
        START_COLUMN: column(START),
        **{field.name: column(field) for field in SERVED},
        "ready": {
            "type": "object",
            "description": "Per indicator (as configured, `sma_20`): past its warm-up, as the "
            "output records' `ready`.",
            "additionalProperties": {"type": "boolean"},
        },
    }
    row = {
        "type": "object",
        "required": ["interval_ms", START_COLUMN, "ready"],
        "properties": props,
        "additionalProperties": {"type": "number", "nullable": True},
    }
    return {
        "type": "object",
        "required": ["symbol", "rows"],
        "properties": {"symbol": {"type": "string"}, "rows": {"type": "array", "items": row}},
        "additionalProperties": False,
    }
