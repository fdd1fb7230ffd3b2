"""aiohttp routes. HTTP status codes live here and nowhere else."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import pyarrow as pa
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ticksmith.api.openapi import ARROW, document
from ticksmith.cache.proxy_cache import Key, ProxyCache
from ticksmith.cache.sources import UnknownSymbol
from ticksmith.store.store import Store

Owner = Callable[[str], Awaitable[dict[str, Any] | None]]
MAX_LIMIT = 100_000


def make_app(
    registry: CollectorRegistry,
    store: Store,
    cache: ProxyCache,
    intervals_ms: tuple[int, ...],
    ready: Callable[[], bool],
    owner: Owner,
) -> web.Application:
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
        return web.json_response(document(intervals_ms))

    async def symbols(_: web.Request) -> web.Response:
        return web.json_response({"symbols": store.symbols()})

    def frame_route(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            key = Key(request.match_info["symbol"], kind, _interval(request, intervals_ms))
            limit = _limit(request)
            try:
                with cache.pin(key) as frame:  # serialise from a strong reference
                    rows = frame.tail(limit).reset_index()
            except UnknownSymbol:
                raise await _unknown(key.symbol, owner) from None
            return _respond(request, key, rows)

        return handler

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/v1/symbols", symbols)
    app.router.add_get("/v1/symbols/{symbol}/bars", frame_route("bars"))
    app.router.add_get("/v1/symbols/{symbol}/indicators", frame_route("indicators"))
    return app


def _interval(request: web.Request, intervals_ms: tuple[int, ...]) -> int:
    raw = request.query.get("interval")
    if raw is None:
        return intervals_ms[0]
    if not raw.isdigit() or int(raw) not in intervals_ms:
        raise _error(web.HTTPBadRequest, f"interval must be one of {list(intervals_ms)} (ms)")
    return int(raw)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _error(web.HTTPBadRequest, f"limit must be an integer in 1..{MAX_LIMIT}")
    return int(raw)


async def _unknown(symbol: str, owner: Owner) -> web.HTTPException:
    held_by = await owner(symbol)
    message = f"unknown symbol {symbol!r}"
    if held_by and held_by.get("client_id"):
        message += f": held by {held_by['client_id']} on {held_by['host']}"
    return _error(web.HTTPNotFound, message, owner=held_by)


def _respond(request: web.Request, key: Key, rows: pd.DataFrame) -> web.Response:
    rows["start"] = rows["start"].astype("int64")
    if ARROW in request.headers.get("Accept", ""):
        sink = pa.BufferOutputStream()
        table = pa.Table.from_pandas(rows, preserve_index=False)
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return web.Response(body=sink.getvalue().to_pybytes(), content_type=ARROW)
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    return web.json_response(
        {"symbol": key.symbol, "interval_ms": key.interval_ms, "rows": records}
    )


def _error(kind: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    return kind(text=json.dumps({"error": message, **extra}), content_type="application/json")
