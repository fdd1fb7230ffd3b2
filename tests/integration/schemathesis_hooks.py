"""What OpenAPI cannot say about the API, told to schemathesis (SCHEMATHESIS_HOOKS).

A range's ``from`` must not be after its ``to``: each is valid alone, the pair
the wrong way round is a 400. Before each call (every phase, coverage included,
which filter hooks do not reach), two valid ends the wrong way round are
swapped, so the case still sends both and is one the server must accept.

Likewise ``interval`` and ``activity`` choose the bars one way or the other,
and the pair is a 400: a case with both keeps only ``activity``.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from ticksmith.api import params
from ticksmith.api.params import BadParameter


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    query = case.query
    if isinstance(query, dict) and "activity" in query:
        query.pop("interval", None)
    if not isinstance(query, dict) or "from" not in query or "to" not in query:
        return
    try:
        ends = [params.instant({"v": str(query[n])}, "v") for n in ("from", "to")]
    except BadParameter:
        return  # a malformed end: the server must refuse it whatever the order
    if ends[0] is not None and ends[1] is not None and ends[0] > ends[1]:
        query["from"], query["to"] = query["to"], query["from"]
