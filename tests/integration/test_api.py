"""The HTTP API of a service fed by the real broker, held to its OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote, urlencode

import aiohttp
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import talib
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.conftest import scrape, wait_for
from tests.integration.streams import caught_up, running
from tests.oracle import offline_bars
from ticksmith.api.openapi import ARROW
from ticksmith.config import Settings
from ticksmith.kafka.ownership import partition_of
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk, send_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")  # from <= to, which OpenAPI cannot say


async def get(url: str, **headers: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


async def test_bars_and_indicators_over_http_json_and_arrow(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    ticks = Market(symbol_names(3), seed=3, spacing_ns=20_000_000).chunk(6_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    expected = offline_bars(ticks, settings.bars.intervals_ms[0] * 1_000_000).loc["SYM0001"]

    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        base = f"http://127.0.0.1:{service.http_port}/v1/symbols"
        status, body, _ = await get(f"{base}/SYM0001/indicators?limit=100000&interval=1000")
        assert status == 200
        indicators = pd.DataFrame(json.loads(body)["rows"])
        status, body, kind = await get(f"{base}/SYM0001/bars?limit=5", Accept=ARROW)
        assert status == 200 and kind == ARROW
        arrow = pa.ipc.open_stream(body).read_all().to_pandas()
        assert (await get(f"{base}/NOPE/bars"))[0] == 404
        assert (await get(f"{base}/SYM0001/bars?limit=0"))[0] == 400
        assert (await get(f"{base}/SYM0001/bars?interval=7"))[0] == 400
        metrics = await scrape(service.http_port)

    np.testing.assert_array_equal(indicators["close"], expected["close"])
    sma = indicators["sma_20"].astype(float).to_numpy()
    np.testing.assert_allclose(sma, talib.SMA(expected["close"].to_numpy(), 20), rtol=1e-9)
    np.testing.assert_array_equal(arrow["close"], expected["close"].to_numpy()[-5:])
    np.testing.assert_array_equal(arrow["start"], expected.index.to_numpy()[-5:])
    assert metrics["ticksmith_cache_recomputes_total"] == 2  # one frame per kind, then hits


async def test_a_symbol_held_by_another_member_names_that_member(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    ticks = Market(symbol_names(12), seed=8).chunk(2_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    two = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"client_id": "other-member"})}
    )
    async with running(settings) as a, running(two) as b:
        await wait_for(lambda: both_assigned(a, b), "both members assigned")
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        elsewhere = next(s for s in symbol_names(12) if s in b.store.symbols())
        status, body, _ = await get(f"http://127.0.0.1:{a.http_port}/v1/symbols/{elsewhere}/bars")

    assert status == 404
    owner = json.loads(body)["owner"]
    assert owner["client_id"] == "other-member"
    assert owner["partition"] == partition_of(elsewhere, 2)


async def both_assigned(*members: object) -> bool:
    return all(m.member.assigned and not m.member.warming_up for m in members)  # type: ignore[attr-defined]


async def test_unknown_symbols_cost_the_coordinator_one_describe_however_many_arrive(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    await send_all(
        producer,
        settings.kafka.ticks_topic,
        encode_chunk(Market(symbol_names(2), seed=4).chunk(500)),
    )
    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        base = f"http://127.0.0.1:{service.http_port}/v1/symbols"
        async with aiohttp.ClientSession() as http:

            async def status(symbol: str) -> int:
                async with http.get(f"{base}/{symbol}/bars") as r:
                    return r.status

            statuses = await asyncio.gather(*(status(f"NOPE{i}") for i in range(300)))
        _, metrics, _ = await get(f"http://127.0.0.1:{service.http_port}/metrics")

    assert set(statuses) == {404}
    assert 'ticksmith_owner_describes_total{result="ok"} 1.0' in metrics.decode()
    assert 'ticksmith_owner_describes_total{result="error"} 0.0' in metrics.decode()


def with_activity_bars(settings: Settings) -> Settings:
    """Tick and dollar bars too, so the document declares and the server serves them."""
    bars = settings.bars.model_copy(update={"ticks": (20,), "dollars": (2.5e5,)})
    return settings.model_copy(update={"bars": bars})


async def test_the_api_honours_its_openapi_document(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    admin: AIOKafkaAdminClient,
    tmp_path: Path,
) -> None:
    settings = with_activity_bars(await settings_factory(partitions=1))
    await send_all(
        producer,
        settings.kafka.ticks_topic,
        encode_chunk(Market(symbol_names(2), seed=9).chunk(1_000)),
    )
    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"http://127.0.0.1:{service.http_port}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "ignored_auth",
            "--max-examples",
            "40",
            "--workers",
            "1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, out.decode()[-4000:]


HOSTILE_INTEGERS = ["²", "\u0663", "9" * 5_000, "-1", "1e3", "+5", " 5", "", "0x10", "1.5"]
HOSTILE_TEXTS = ["", "S" * 256, "é" * 128]
HOSTILE_INSTANTS = [
    *HOSTILE_INTEGERS,
    "2024-11-24T14:40:00",  # no zone
    "2024-11-24T14:40:00 05:00",  # a + not written %2B
    "2024-02-30T00:00:00Z",
    "\uff12024-11-24T14:40:00Z",  # a FULLWIDTH digit
    "9" * 20,
]


async def test_every_parameter_the_document_declares_refuses_malformed_values(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    """Values schemathesis does not try (it keeps to ASCII and small numbers),
    sent to every parameter of every operation in the document the service serves."""
    settings = with_activity_bars(await settings_factory(partitions=1))
    await send_all(
        producer,
        settings.kafka.ticks_topic,
        encode_chunk(Market(symbol_names(2), seed=9).chunk(500)),
    )
    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        root = f"http://127.0.0.1:{service.http_port}"
        document = json.loads((await get(f"{root}/openapi.json"))[1])
        tried = [
            (path, param["name"], await _refused(root, path, param, value))
            for path, item in document["paths"].items()
            for param in item["get"].get("parameters", [])
            for value in _hostile(param)
        ]
    refused = {(path, name) for path, name, ok in tried if ok}
    assert refused == {(path, name) for path, name, _ in tried}, [t for t in tried if not t[2]]
    declared = {"symbol", "interval", "activity", "limit", "after", "from", "to", "bars"}
    assert {name for _, name, _ in tried} == declared


def _hostile(param: dict[str, object]) -> list[str]:
    schema = param["schema"]
    assert isinstance(schema, dict)
    if "oneOf" in schema:  # an instant: ns or a date-time
        return HOSTILE_INSTANTS
    return HOSTILE_INTEGERS if schema["type"] in ("integer", "array") else HOSTILE_TEXTS


async def _refused(root: str, path: str, param: dict[str, object], value: str) -> bool:
    """Whether the service answers 400 with a JSON error naming the parameter."""
    name = str(param["name"])
    if param["in"] == "path":
        url = root + path.replace("{" + name + "}", quote(value, safe=""))
    else:
        url = root + path.replace("{symbol}", "SYM0000") + "?" + urlencode({name: value})
    status, body, kind = await get(url)
    if path.count("/") > 2 and param["in"] == "path" and value == "":
        return status == 404  # an empty path segment routes nowhere
    json_error = kind.startswith("application/json") and name in json.loads(body)["error"]
    return status == 400 and json_error


async def test_a_client_walks_every_symbol_by_following_next(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    names = symbol_names(25)
    ticks = Market(names, seed=5).chunk(3_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        root, link, seen = f"http://127.0.0.1:{service.http_port}", "/v1/symbols?limit=7", []
        while link is not None:
            status, body, _ = await get(root + link)
            assert status == 200
            page = json.loads(body)
            assert len(page["symbols"]) <= 7
            seen += page["symbols"]
            link = page["next"]
    assert seen == sorted(names)
