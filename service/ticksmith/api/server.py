"""aiohttp routes. HTTP status codes live here and nowhere else."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ticksmith.cache.proxy_cache import Key, ProxyCache
from ticksmith.cache.sources import UnknownSymbol
from ticksmith.store.store import Store


def make_app(
    registry: CollectorRegistry,
    store: Store,
    cache: ProxyCache,
    interval_ms: int,
    ready: Callable[[], bool],
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def symbols(_: web.Request) -> web.Response:
        return web.json_response({"symbols": store.symbols()})

    async def indicators(request: web.Request) -> web.Response:
        limit = _limit(request)
        key = Key(request.match_info["symbol"], "indicators", interval_ms)
        try:
            rows = cache.read(key, lambda frame: _records(frame.tail(limit)))
        except UnknownSymbol:
            raise _error(web.HTTPNotFound, f"unknown symbol {key.symbol!r}") from None
        return web.json_response({"symbol": key.symbol, "interval_ms": interval_ms, "rows": rows})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/v1/symbols", symbols)
    app.router.add_get("/v1/symbols/{symbol}/indicators", indicators)
    return app


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise _error(web.HTTPBadRequest, "limit must be an integer in 1..100000")
    return int(raw)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    out = frame.reset_index()
    out["start"] = out["start"].astype("int64")
    return out.astype(object).where(out.notna(), None).to_dict(orient="records")  # type: ignore[return-value]


def _error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    return kind(text=json.dumps({"error": message}), content_type="application/json")
