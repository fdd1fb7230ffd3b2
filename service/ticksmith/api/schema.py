"""Pieces of the OpenAPI document that several operations share: the symbol in
the path, the error responses, and a bar field as a row's column."""

from __future__ import annotations

from typing import Any

from ticksmith.api.params import MAX_SYMBOL_BYTES
from ticksmith.bar import Field

ARROW = "application/vnd.apache.arrow.stream"

ERROR = {"$ref": "#/components/schemas/Error"}
# maxLength counts characters and the rule is bytes; the server checks the bytes
TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_SYMBOL_BYTES}
SYMBOL = {
    "name": "symbol",
    "in": "path",
    "required": True,
    "description": f"1..{MAX_SYMBOL_BYTES} bytes of UTF-8.",
    "schema": TEXT,
}
BAD = {
    "description": "A malformed, unknown or repeated parameter; `error` says which.",
    "content": {"application/json": {"schema": ERROR}},
}
NOT_FOUND = {
    "description": "Unknown symbol here; `owner` names the member that holds it.",
    "content": {"application/json": {"schema": ERROR}},
}
NUMBER = {"type": "number", "nullable": True}


def column(field: Field) -> dict[str, Any]:
    """A bar field in a row. Any number may be null: NaN and infinities are written so."""
    kind = NUMBER if field.json_type == "number" else {"type": "integer"}
    return kind | {"description": field.description}
