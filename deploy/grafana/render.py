"""Render the Grafana dashboard's time-series panels over a recent window to a PNG.

    python deploy/grafana/render.py --prometheus http://127.0.0.1:9090 --minutes 5 \\
        --out docs/dashboard.png

A development tool, not part of the service's package: `make dashboard-png` runs it
after a short local run (render-local-run.sh).

The panels, their queries, legends and units are read from the dashboard JSON
(deploy/grafana/dashboards/ticksmith.json), so the picture cannot drift from the
dashboard. Each panel becomes a small line chart of Prometheus' query_range
answers. Template variables match everything (``.*``) and ``$__rate_interval`` is
worked out as Grafana does, from the scrape interval Prometheus reports. Needs
the ``viz`` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, Formatter, FuncFormatter, PercentFormatter

from ticksmith.errors import TicksmithError

DASHBOARD = Path(__file__).resolve().parent / "dashboards" / "ticksmith.json"
POINTS = 240  # per panel line: enough for a smooth curve in a small chart
COLUMNS = 3
MAX_LEGEND = 8


class RenderError(TicksmithError):
    """The dashboard or Prometheus could not give what the picture needs."""


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    min: float | None  # the y axis' floor, as the dashboard sets it
    queries: tuple[Query, ...]


@dataclass(frozen=True)
class Series:
    label: str
    times: list[float]  # unix seconds
    values: list[float]


def load_panels(path: Path) -> tuple[list[Panel], list[str]]:
    """The dashboard's time-series panels, in order, and its template variable names."""
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RenderError(f"cannot read the dashboard {path}: {exc}") from exc
    panels = [_panel(p) for p in _walk(dashboard["panels"]) if p.get("type") == "timeseries"]
    names = [v["name"] for v in dashboard.get("templating", {}).get("list", [])]
    return panels, names


def _walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk(panel.get("panels", []))  # a collapsed row holds its panels


def _panel(raw: dict[str, Any]) -> Panel:
    defaults = raw.get("fieldConfig", {}).get("defaults", {})
    queries = tuple(Query(t["expr"], t.get("legendFormat", "")) for t in raw["targets"])
    return Panel(raw["title"], defaults.get("unit", "short"), defaults.get("min"), queries)


def substitute(expr: str, variables: list[str], rate_interval: str) -> str:
    """The query Grafana would send with every template variable set to "All"."""
    values = {name: ".*" for name in variables}
    values |= {"__rate_interval": rate_interval, "__interval": rate_interval}

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in values:
            raise RenderError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


class Prometheus:
    """The two HTTP API calls the picture needs."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s

    def get(self, path: str, **params: str) -> Any:
        url = f"{self._base}{path}?{urllib.parse.urlencode(params)}"
        try:
            body = self._read(url)
        except (OSError, ValueError) as exc:
            raise RenderError(f"Prometheus at {self._base} did not answer {path}: {exc}") from exc
        if body.get("status") != "success":
            raise RenderError(f"Prometheus refused {params}: {body.get('error')}")
        return body["data"]

    def _read(self, url: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(url, timeout=self._timeout_s) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:  # a bad query: the reason is in the JSON body
            return dict(json.load(exc))

    def scrape_interval_s(self) -> float:
        """The longest scrape interval of the active targets (15 s if it says none)."""
        targets = self.get("/api/v1/targets", state="active")["activeTargets"]
        found = [_duration_s(t["scrapeInterval"]) for t in targets if "scrapeInterval" in t]
        return max(found, default=15.0)

    def query_range(self, query: Query, start: float, end: float, step_s: float) -> list[Series]:
        data = self.get(
            "/api/v1/query_range",
            query=query.expr,
            start=f"{start:.3f}",
            end=f"{end:.3f}",
            step=f"{step_s:.3f}",
        )
        return [_series(query.legend, item) for item in data["result"]]


def _duration_s(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    if not parts:
        raise RenderError(f"cannot read the duration {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def _series(legend: str, item: dict[str, Any]) -> Series:
    labels: dict[str, str] = item["metric"]
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), legend)
    times = [float(t) for t, _ in item["values"]]
    return Series(text or _label_text(labels), times, [float(v) for _, v in item["values"]])


def _label_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"


def rate_interval_s(step_s: float, scrape_s: float) -> float:
    """Grafana's $__rate_interval: max(interval + scrape interval, 4 * scrape interval)."""
    return max(step_s + scrape_s, 4 * scrape_s)


def _bytes(value: float, _: int = 0) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= size:
            return f"{value / size:,.3g} {unit}"
    return f"{value:,.0f} B"


def _formatter(unit: str) -> Formatter:
    if unit == "bytes":
        return FuncFormatter(_bytes)
    if unit == "percentunit":
        return PercentFormatter(xmax=1.0, decimals=None)
    if unit == "s":
        return EngFormatter(unit="s", sep="")
    if unit == "ops":
        return EngFormatter(unit="/s", sep="")
    return EngFormatter(sep="")


_UNIT_NAMES = {"bytes": "bytes", "percentunit": "%", "s": "seconds", "ops": "per second"}


def draw_panel(ax: Axes, panel: Panel, series: list[Series], end: float) -> bool:
    """One small chart; False (and "no data" drawn) when no query returned anything."""
    unit = _UNIT_NAMES.get(panel.unit, "")
    ax.set_title(f"{panel.title}" + (f" ({unit})" if unit else ""), fontsize=9)
    ax.yaxis.set_major_formatter(_formatter(panel.unit))
    ax.tick_params(labelsize=7)
    ax.grid(True, linewidth=0.3, alpha=0.6)
    ax.set_xlabel("minutes before the end", fontsize=7)
    if not series:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return False
    for s in series:
        ax.plot([(t - end) / 60 for t in s.times], s.values, linewidth=1.0, label=s.label)
    if panel.min is not None:
        ax.set_ylim(bottom=panel.min, top=max(ax.get_ylim()[1], panel.min + 1e-9))
    _legend(ax, len(series))
    return True


def _legend(ax: Axes, count: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if count > MAX_LEGEND:
        handles, labels = handles[:MAX_LEGEND], [*labels[: MAX_LEGEND - 1], "…"]
    ax.legend(handles, labels, fontsize=6, loc="best", ncols=2, framealpha=0.6)


def render(
    prometheus: Prometheus, dashboard: Path, minutes: float, out: Path, rate_interval: str | None
) -> tuple[int, list[str]]:
    """Draw every time-series panel; return (panels drawn, titles of those with no data)."""
    panels, variables = load_panels(dashboard)
    end = time.time()
    step_s = max(1.0, minutes * 60 / POINTS)
    scrape_s = prometheus.scrape_interval_s() if rate_interval is None else 0.0
    interval = rate_interval or f"{math.ceil(rate_interval_s(step_s, scrape_s))}s"
    rows = math.ceil(len(panels) / COLUMNS)
    fig = Figure(figsize=(5.2 * COLUMNS, 3.0 * rows), layout="constrained")
    fig.suptitle(f"ticksmith: last {minutes:g} min, rate window {interval}", fontsize=12)
    empty = []
    for i, panel in enumerate(panels):
        queries = [Query(substitute(q.expr, variables, interval), q.legend) for q in panel.queries]
        series = [
            s for q in queries for s in prometheus.query_range(q, end - minutes * 60, end, step_s)
        ]
        if not draw_panel(fig.add_subplot(rows, COLUMNS, i + 1), panel, series, end):
            empty.append(panel.title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return len(panels), empty


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="render.py", description=__doc__)
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090", help="base URL")
    parser.add_argument("--minutes", type=float, default=5.0, help="window ending now")
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD)
    parser.add_argument("--rate-interval", help="e.g. 30s (default: as Grafana derives it)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        drawn, empty = render(
            Prometheus(args.prometheus), args.dashboard, args.minutes, args.out, args.rate_interval
        )
    except RenderError as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 1
    print(f"rendered {drawn} panels to {args.out}; {drawn - len(empty)} with data", file=sys.stderr)
    if empty:
        print(f"no data: {', '.join(empty)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
