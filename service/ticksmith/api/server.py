"""aiohttp routes. HTTP status codes live here and nowhere else."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ticksmith.api import forming, pages, params, ranges
from ticksmith.api.openapi import ARROW, document
from ticksmith.api.params import BadParameter
from ticksmith.bar import ActivitySet, BarKey
from ticksmith.cache.frames import GrowingFrame
from ticksmith.cache.proxy_cache import Key, ProxyCache
from ticksmith.cache.sources import UnknownSymbol

Owner = Callable[[str], Awaitable[dict[str, Any] | None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIMIT = 100_000  # rows of a frame
DEFAULT_LIMIT = 100


class Symbols(Protocol):
    """What the API reads from the store: the sorted symbols held here."""

    def symbols(self) -> list[str]: ...


def make_app(
    registry: CollectorRegistry,
    store: Symbols,
    cache: ProxyCache,
    intervals_ms: tuple[int, ...],
    ready: Callable[[], bool],
    owner: Owner,
    *,
    bars_in_progress: forming.Forming,
    activity: tuple[str, ...] = (),
) -> web.Application:
    """`activity`: the labels of the activity bar sets (``ticks:100``), served
    with ``activity=`` in place of ``interval=``."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document(intervals_ms, activity))

    async def symbols(request: web.Request) -> web.Response:
        query = params.only(request.query, ("limit", "after"))
        limit = params.integer(query, "limit", 1, pages.MAX_LIMIT, pages.DEFAULT_LIMIT)
        after = params.symbol(query["after"], "after") if "after" in query else None
        chosen, link = pages.page(store.symbols(), after, limit)
        return web.json_response({"symbols": chosen, "next": link})

    def frame_route(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            query = params.only(request.query, ("interval", "activity", "limit", "from", "to"))
            symbol = params.symbol(request.match_info["symbol"])
            interval = _bar_set(query, intervals_ms, activity)
            limit = params.integer(query, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
            chosen = ranges.span(params.instant(query, "from"), params.instant(query, "to"))
            key = Key(symbol, kind, interval)
            try:
                with cache.pin_value(key) as value:  # serialise from a strong reference
                    columns, next_ns = _columns(value, limit, chosen)
                    return _respond(request, key, columns, _page(request, query, chosen, next_ns))
            except UnknownSymbol:
                raise await _unknown(key.symbol, owner) from None

        return handler

    async def forming_bars(request: web.Request) -> web.Response:
        query = params.only(request.query, ("bars",))
        symbol = params.symbol(request.match_info["symbol"])
        chosen = params.some_of(query, "bars", intervals_ms)
        found = bars_in_progress.read(symbol, chosen)
        if found is None:
            raise await _unknown(symbol, owner)
        columns, ready = forming.columns(found)
        if ARROW in request.headers.get("Accept", ""):
            return _arrow(forming.arrow_columns(columns, ready), {})
        rows = forming.json_rows(_records(columns), ready)
        return _json_response({"symbol": symbol, "rows": rows}, {})

    app = web.Application(middlewares=[_bad_parameters])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/v1/symbols", symbols)
    app.router.add_get("/v1/symbols/{symbol}/bars", frame_route("bars"))
    app.router.add_get("/v1/symbols/{symbol}/indicators", frame_route("indicators"))
    app.router.add_get("/v1/symbols/{symbol}/forming", forming_bars)
    return app


@web.middleware
async def _bad_parameters(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A malformed parameter anywhere is a 400 with a JSON error naming it."""
    try:
        return await handler(request)
    except BadParameter as exc:
        raise _error(web.HTTPBadRequest, str(exc)) from None


def _bar_set(
    query: dict[str, str], intervals_ms: tuple[int, ...], activity: tuple[str, ...]
) -> BarKey:
    """The bars asked for: an activity set's label, else an interval (the first by default)."""
    label = params.label(query, "activity", activity)
    if label is None:
        return params.one_of(query, "interval", intervals_ms)
    if "interval" in query:
        raise BadParameter("interval and activity: give one of them, not both")
    return label


def _head(key: Key) -> dict[str, Any]:
    """What a response says of its bars: the interval, or the activity bar type and threshold."""
    if isinstance(key.interval_ms, int):
        return {"symbol": key.symbol, "interval_ms": key.interval_ms}
    bar_set = ActivitySet.of_label(key.interval_ms)
    return {"symbol": key.symbol, "bar_type": bar_set.kind, "threshold": bar_set.json_threshold}


async def _unknown(symbol: str, owner: Owner) -> web.HTTPException:
    held_by = await owner(symbol)
    message = f"unknown symbol {symbol!r}"
    if held_by and held_by.get("client_id"):
        message += f": held by {held_by['client_id']} on {held_by['host']}"
    return _error(web.HTTPNotFound, message, owner=held_by)


Columns = dict[str, npt.NDArray[np.generic]]


def _columns(
    value: GrowingFrame | pd.DataFrame, limit: int, chosen: ranges.Span | None
) -> tuple[Columns, int | None]:
    """The rows asked for, as columns with `start` (ns since the epoch) first,
    and the start of the first row the limit left out of a range: the newest
    `limit` rows without a range, else the oldest `limit` of the range."""
    starts = value.starts if isinstance(value, GrowingFrame) else value.index.asi8
    if chosen is None:
        lo, hi, next_ns = ranges.newest(len(starts), limit)
    else:
        lo, hi, next_ns = ranges.window(starts, chosen, limit)
    return _rows(value, lo, hi), next_ns


def _rows(value: GrowingFrame | pd.DataFrame, lo: int, hi: int) -> Columns:
    """Rows lo:hi straight from a fed frame's buffers, or from a DataFrame indexed
    by start."""
    if isinstance(value, GrowingFrame):
        return value.rows(lo, hi)
    rows = value.iloc[lo:hi]
    return {"start": rows.index.asi8, **{str(n): rows[n].to_numpy() for n in rows.columns}}


def _page(
    request: web.Request, query: dict[str, str], chosen: ranges.Span | None, next_ns: int | None
) -> dict[str, str | None] | None:
    """What a range adds to the response: the next page's link, null on the last;
    nothing without a range, whose response is as it always was."""
    if chosen is None:
        return None
    return {"next": ranges.next_link(request.rel_url, query, next_ns)}


def _respond(
    request: web.Request, key: Key, columns: Columns, page: dict[str, str | None] | None = None
) -> web.Response:
    """JSON, or Arrow when asked for. A range's `next` link (null on its last page)
    goes in the JSON body, and in a `Link` header for either format."""
    headers = {"Link": f'<{page["next"]}>; rel="next"'} if page and page["next"] else {}
    if ARROW in request.headers.get("Accept", ""):
        return _arrow(columns, headers)
    rows = _head(key) | {"rows": _records(columns)}
    return _json_response(rows | (page or {}), headers)


def _arrow(columns: Mapping[str, Any], headers: dict[str, str]) -> web.Response:
    """One Arrow IPC stream of one table."""
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pydict(columns)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body = sink.getvalue().to_pybytes()
    return web.Response(body=body, content_type=ARROW, headers=headers)


def _json_response(body: dict[str, Any], headers: dict[str, str]) -> web.Response:
    return web.Response(body=_json.encode(body), content_type="application/json", headers=headers)


_json = msgspec.json.Encoder()  # writes NaN and infinities as null


def _records(columns: Columns) -> list[dict[str, Any]]:
    """One object per row, built from whole columns (one tolist() each): the cost
    is the rows returned."""
    names = list(columns)
    values = [column.tolist() for column in columns.values()]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _error(kind: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    return kind(text=json.dumps({"error": message, **extra}), content_type="application/json")
