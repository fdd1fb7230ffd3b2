"""A real Prometheus scrapes the service fed by the real broker and evaluates the
repo's rules: every dashboard query, recording rule and alert left-hand side must
return data, every rule must evaluate cleanly, and the dashboard renders to a PNG.

Prometheus must be installed (deploy/prometheus/install.sh, which `make test` runs);
a missing one fails these tests, it never skips them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import matplotlib.image
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from bench._service import free_port

from tests.bad_records import BAD, KEPT_FROM_BAD, MAX_RECORD_BYTES
from tests.integration import streams
from tests.integration.conftest import ROOT, scrape, wait_for
from ticksmith.app import Service
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import ProduceSpec, encode_chunk, produce, send_all

SettingsFactory = Callable[..., Awaitable[Settings]]
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
COMPOSE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "ticksmith.json"
ALERT = re.compile(r"(?P<lhs>.+?)\s*(?:==|!=|>=|<=|>|<)\s*-?[0-9.]+(?:e[+-]?[0-9]+)?", re.S)
# What a test stands in for each dashboard variable: every value, and a rate window
# that holds several 1 s scrapes.
DASHBOARD_VALUES = {"__rate_interval": "5s", "__interval": "5s"}
READ_SYMBOL = "SYM0050"  # in the initial ticks only, so its cached value stays current


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: run deploy/prometheus/install.sh (make test does)")
    return path


def rule_files() -> list[dict[str, Any]]:
    assert RULES, "no rule files under deploy/prometheus/rules"
    return [
        rule
        for path in RULES
        for g in yaml.safe_load(path.read_text())["groups"]
        for rule in g["rules"]
    ]


def recording_rules() -> list[str]:
    return [r["record"] for r in rule_files() if "record" in r]


def alert_left_sides() -> list[str]:
    sides = []
    for rule in (r for r in rule_files() if "alert" in r):
        shape = ALERT.fullmatch(rule["expr"].strip())
        assert shape, f"{rule['alert']}: expr is not `<query> <comparison> <threshold>`"
        sides.append(shape["lhs"].strip())
    return sides


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query) for every target of every panel, variables substituted."""
    dashboard = json.loads(DASHBOARD.read_text())
    values = {v["name"]: ".*" for v in dashboard["templating"]["list"]} | DASHBOARD_VALUES
    panels = dashboard["panels"] + [p for row in dashboard["panels"] for p in row.get("panels", [])]
    queries = []
    for panel in panels:
        for target in panel.get("targets", []):
            expr = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m[1]], target["expr"])
            queries.append((panel["title"], expr))
    assert queries, "the dashboard has no queries"
    return queries


def write_config(directory: Path, target_port: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULES],
        "scrape_configs": [
            {"job_name": "ticksmith", "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}
        ],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@asynccontextmanager
async def prometheus(directory: Path, target_port: int) -> AsyncIterator[str]:
    """A Prometheus process scraping 127.0.0.1:`target_port`; yields its base URL."""
    url = f"http://127.0.0.1:{free_port()}"
    log = directory / "prometheus.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={write_config(directory, target_port)}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address={url.removeprefix('http://')}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_for(lambda: _ready(url, process, log), "prometheus ready", timeout_s=30)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _ready(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    assert process.poll() is None, f"prometheus exited:\n{log.read_text()}"
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/-/ready") as r:
            return r.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def api(url: str, path: str, **params: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"{url}{path}", params=params) as r:
        body = await r.json()
    assert body["status"] == "success", f"{path} {params}: {body.get('error')}"
    return body["data"]


async def empty_queries(url: str, queries: list[str]) -> list[str]:
    """The queries that return no series now (a query Prometheus rejects fails here)."""
    results = await asyncio.gather(*(api(url, "/api/v1/query", query=q) for q in queries))
    return [q for q, data in zip(queries, results, strict=True) if not data["result"]]


async def rules_evaluated(url: str) -> list[dict[str, Any]]:
    groups = (await api(url, "/api/v1/rules"))["groups"]
    return [rule for g in groups for rule in g["rules"]]


async def send_initial_ticks(producer: AIOKafkaProducer, topic: str) -> int:
    """3,000 good ticks of 60 symbols, ending 15 s ago, with every kind of bad record
    in the middle; returns how many ticks the service must apply."""
    market = Market(symbol_names(60), seed=11, start_ns=time.time_ns() - 30 * 10**9)
    good = encode_chunk(market.chunk(3_000))
    bad = [(key, value) for key, value, _ in BAD]
    await send_all(producer, topic, good[:1_500] + bad + good[1_500:])
    return 3_000 + KEPT_FROM_BAD


async def consumed(service: Service, ticks: int) -> bool:
    metrics = await scrape(service.http_port)
    return metrics.get("ticksmith_ticks_consumed_total", 0) >= ticks and metrics.get(
        "ticksmith_dead_letters_total", 0
    ) >= len(BAD)


async def read_indicators(service: Service) -> None:
    url = f"http://127.0.0.1:{service.http_port}/v1/symbols/{READ_SYMBOL}/indicators"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200, await r.text()


async def read_through_the_cache(service: Service) -> None:
    """A first read, a hit, then a read after eviction: a reclaimed-value recompute."""
    await read_indicators(service)
    await read_indicators(service)
    service.cache.evict_to(0)
    gc.collect()
    await read_indicators(service)
    sample = service.metrics.registry.get_sample_value
    assert sample("ticksmith_cache_recomputes_total", {"trigger": "first"}) == 1
    assert sample("ticksmith_cache_recomputes_total", {"trigger": "reclaimed"}) == 1
    assert sample("ticksmith_cache_hits_total") == 1


@asynccontextmanager
async def feeding(producer: AIOKafkaProducer, topic: str) -> AsyncIterator[None]:
    """Live ticks at 1,000/s for 20 other symbols, so rates and latencies have data."""
    stop = asyncio.Event()
    spec = ProduceSpec(topic, symbols=20, rate=1_000, seed=12, progress=False)
    task = asyncio.create_task(produce(producer, spec, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def every_query_has_data(url: str, queries: list[str], what: str) -> None:
    """Wait until every query returns data; then name any that still return none."""
    deadline = time.monotonic() + 60
    empty = await empty_queries(url, queries)
    while empty and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        empty = await empty_queries(url, queries)
    assert not empty, f"{what} with no data after 60 s:\n" + "\n".join(empty)


async def every_rule_is_healthy(url: str) -> None:
    await wait_for(lambda: _all_evaluated(url), "every rule evaluated at least once", timeout_s=30)
    rules = await rules_evaluated(url)
    assert len(rules) == len(rule_files()), "Prometheus loaded a different number of rules"
    unhealthy = [(r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not unhealthy, unhealthy


async def _all_evaluated(url: str) -> bool:
    return all(r["health"] != "unknown" for r in await rules_evaluated(url))


def render_png(url: str, out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "deploy" / "grafana" / "render.py"), "--prometheus", url]
    command += ["--minutes", "2", "--dashboard", str(DASHBOARD), "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def assert_picture(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pixels = matplotlib.image.imread(str(path))
    height, width = pixels.shape[:2]
    assert width >= 1_200 and height >= 1_200, (width, height)
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[2]).tolist()}
    assert len(colours) > 50, "the picture is nearly blank"


@pytest.mark.kafka
@pytest.mark.timeout(240)
async def test_prometheus_finds_data_for_every_panel_rule_and_alert(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    settings = await settings_factory(partitions=4)
    ingest = settings.ingest.model_copy(update={"max_record_bytes": MAX_RECORD_BYTES})
    settings = settings.model_copy(update={"ingest": ingest})
    topic = settings.kafka.ticks_topic
    ticks = await send_initial_ticks(producer, topic)

    async with streams.running(settings) as service:
        await wait_for(lambda: consumed(service, ticks), "the initial ticks and dead letters")
        await read_through_the_cache(service)
        async with feeding(producer, topic), prometheus(tmp_path, service.http_port) as url:
            await every_query_has_data(url, ['up{job="ticksmith"} == 1'], "the scrape")
            panels = dashboard_queries()
            await every_query_has_data(url, [q for _, q in panels], "dashboard queries")
            await every_query_has_data(url, recording_rules(), "recording rules")
            await every_query_has_data(url, alert_left_sides(), "alert left-hand sides")
            await every_rule_is_healthy(url)
            rendered = await asyncio.to_thread(render_png, url, tmp_path / "dashboard.png")

    assert rendered.returncode == 0, rendered.stderr
    assert "no data" not in rendered.stderr, rendered.stderr
    assert_picture(tmp_path / "dashboard.png")


def promtool(*args: str) -> str:
    """promtool's output; fails the test, with that output, on a non-zero exit."""
    done = subprocess.run([binary("promtool"), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_promtool_accepts_the_rules_and_the_configs(tmp_path: Path) -> None:
    assert "SUCCESS" in promtool("check", "rules", *map(str, RULES))
    assert "rules found" in promtool("check", "config", str(write_config(tmp_path, 9464)))
    if COMPOSE_CONFIG.exists():  # the compose stack's: its rule_files resolve beside it
        assert "rules found" in promtool("check", "config", str(COMPOSE_CONFIG))


# promtool's rule unit tests: series at 1-minute steps ("0+30x40": 0, 30, 60, ...),
# and the alerts that must be firing at `at`, no more and no fewer.
A, B, C, D = ({"job": "ticksmith", "instance": f"{host}:9464"} for host in "abcd")
RECLAIMED = {"trigger": "reclaimed"}
ALERT_SCENARIOS: dict[
    str, tuple[list[tuple[str, dict[str, str], str]], str, list[dict[str, str]]]
] = {
    "lag seconds growing 0.5 s/s fires, 0.05 s/s does not": (
        [
            ("ticksmith_consumer_lag_seconds", {**A, "partition": "0"}, "0+30x40"),
            ("ticksmith_consumer_lag_seconds", {**B, "partition": "0"}, "0+3x40"),
        ],
        "20m",
        [{"alertname": "TicksmithConsumerLagGrowing", "severity": "warning", **A}],
    ),
    "RSS at 95% of the cache budget fires; the memory budget, when exported, wins": (
        [
            ("process_resident_memory_bytes", A, "950x20"),
            ("ticksmith_cache_budget_bytes", A, "1000x20"),
            ("process_resident_memory_bytes", B, "950x20"),
            ("ticksmith_cache_budget_bytes", B, "1000x20"),
            ("ticksmith_memory_budget_bytes", B, "2000x20"),
        ],
        "10m",
        [{"alertname": "TicksmithMemoryNearBudget", "severity": "warning", **A}],
    ),
    "10 reclaimed recomputes/s and 2 ReferenceErrors/s fire, 1/s and 0/s do not": (
        [
            ("ticksmith_cache_recomputes_total", {**A, **RECLAIMED}, "0+600x40"),
            ("ticksmith_cache_reference_errors_total", A, "0+120x40"),
            ("ticksmith_cache_recomputes_total", {**B, **RECLAIMED}, "0+60x40"),
            ("ticksmith_cache_reference_errors_total", B, "0x40"),
        ],
        "20m",
        [
            {
                "alertname": "TicksmithRecomputeStorm",
                "severity": "warning",
                **A,
                "cause": "reclaimed_recomputes",
            },
            {
                "alertname": "TicksmithRecomputeStorm",
                "severity": "warning",
                **A,
                "cause": "reference_errors",
            },
        ],
    ),
    "2% of records dead-lettered fires, 0.5% does not": (
        [
            ("ticksmith_records_consumed_total", {**A, "partition": "0"}, "0+6000x40"),
            ("ticksmith_dead_letters_total", {**A, "reason": "schema"}, "0+120x40"),
            ("ticksmith_records_consumed_total", {**B, "partition": "0"}, "0+6000x40"),
            ("ticksmith_dead_letters_total", {**B, "reason": "schema"}, "0+30x40"),
        ],
        "15m",
        [{"alertname": "TicksmithDeadLetterSpike", "severity": "warning", **A}],
    ),
    "behind and consuming nothing fires, also before the first record; caught up does not": (
        [
            ("ticksmith_records_consumed_total", {**A, "partition": "0"}, "100x40"),
            ("ticksmith_consumer_lag_messages", {**A, "partition": "0"}, "50x40"),
            ("ticksmith_records_consumed_total", {**B, "partition": "0"}, "100x40"),
            ("ticksmith_consumer_lag_messages", {**B, "partition": "0"}, "0x40"),
            ("ticksmith_records_consumed_total", {**C, "partition": "0"}, "0+600x40"),
            ("ticksmith_consumer_lag_messages", {**C, "partition": "0"}, "50x40"),
            ("ticksmith_consumer_lag_messages", {**D, "partition": "0"}, "50x40"),
        ],
        "15m",
        [
            {
                "alertname": "TicksmithNoData",
                "severity": "critical",
                **A,
                "cause": "consumption_stalled",
            },
            {
                "alertname": "TicksmithNoData",
                "severity": "critical",
                **D,
                "cause": "consumption_stalled",
            },
        ],
    ),
    "a target down for 2 minutes fires": (
        [("up", A, "0x10"), ("up", B, "1x10")],
        "5m",
        [{"alertname": "TicksmithNoData", "severity": "critical", **A, "cause": "scrape_failed"}],
    ),
}


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def promtool_tests(scenarios: dict[str, Any]) -> dict[str, Any]:
    tests = []
    for name, (series, at, firing) in scenarios.items():
        expected = [
            {"labels": _series("ALERTS", {**f, "alertstate": "firing"}), "value": 1} for f in firing
        ]
        tests.append(
            {
                "name": name,
                "interval": "1m",
                "input_series": [
                    {"series": _series(n, labels), "values": v} for n, labels, v in series
                ],
                "promql_expr_test": [
                    {
                        "expr": 'ALERTS{alertstate="firing"}',
                        "eval_time": at,
                        "exp_samples": expected,
                    }
                ],
            }
        )
    return {"rule_files": [str(p) for p in RULES], "evaluation_interval": "1m", "tests": tests}


@pytest.mark.timeout(60)
def test_each_alert_fires_on_its_scenario_and_only_there(tmp_path: Path) -> None:
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(promtool_tests(ALERT_SCENARIOS)))
    assert "SUCCESS" in promtool("test", "rules", str(path))
