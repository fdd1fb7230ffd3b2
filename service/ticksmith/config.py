"""The one configuration tree: defaults ← TOML file ← TICKSMITH_* environment.

Loaded and validated once at start. Nested settings are reached from the
environment with a double underscore, e.g. ``TICKSMITH_KAFKA__BOOTSTRAP_SERVERS``.
A bad value raises :class:`ConfigError` naming the setting and where it came from.

A foundation: it imports only ``errors`` and the Kafka settings model, so loading
settings loads no part of the service. Of ``indicators`` it checks the shape (a
table of name -> list of parameter tables); the service parses the specs when it
starts (``ticksmith.indicators.spec.indicator_specs``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NaiveDatetime,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ticksmith.errors import ConfigError
from ticksmith.kafka.settings import KafkaSettings, NonNegative, Positive

ENV_PREFIX = "TICKSMITH_"
CONFIG_ENV = "TICKSMITH_CONFIG"
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=0, le=65535)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INVALID = "invalid configuration:"


def _event_time_ns(value: object) -> int:
    """An instant as integer nanoseconds since the epoch, from nanoseconds (an integer,
    or a string of ASCII digits) or an ISO 8601 date or datetime (UTC unless it says)."""
    ns = _as_ns(value)
    if ns is None or not 0 <= ns < 2**63:
        raise ValueError("need a date or datetime from 1970-01-01 on, or nanoseconds since then")
    return ns


def _as_ns(value: object) -> int | None:
    if isinstance(value, str):
        value = int(value) if re.fullmatch(r"[0-9]+", value) else _iso(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(), UTC)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _MICROSECOND * 1_000
    return value if type(value) is int else None


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


EventTimeNs = Annotated[int, BeforeValidator(_event_time_ns)]
_QUARTER_HOUR_MS = 900_000  # every time zone's UTC offset since 1980 is a multiple


def _zone(name: str) -> str:
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("need an IANA time zone name, such as America/New_York or UTC") from None


def _on_the_epoch_day(value: object) -> object:
    """A time of day alone (``"09:30"``) is that time on 1970-01-01."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?", value):
        value = time.fromisoformat(value)
    return datetime.combine(date(1970, 1, 1), value) if isinstance(value, time) else value


TimeZone = Annotated[str, AfterValidator(_zone)]
LocalOrigin = Annotated[NaiveDatetime, BeforeValidator(_on_the_epoch_day)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestSettings(_Section):
    max_record_bytes: Positive = 1_048_576
    max_future_skew_ms: Positive = 3_600_000
    min_event_time: EventTimeNs = 946_684_800 * 10**9  # 2000-01-01; held as ns
    replay_lookback_records: NonNegative = 100_000
    replay_lookback_ms: NonNegative = 0


class BarSettings(_Section):
    intervals_ms: tuple[Positive, ...] = Field((1_000,), min_length=1)
    history_bars: Positive = 2_000
    lateness_ms: NonNegative = 0
    quiet_close_ms: NonNegative = 0
    # activity bars (docs/bars.md): every N trades, every V units, every D of price * size
    ticks: tuple[Positive, ...] = ()
    volume: tuple[PositiveFinite, ...] = ()
    dollars: tuple[PositiveFinite, ...] = ()
    activity_anchor_ms: Positive = 86_400_000  # activity bars restart at each UTC multiple
    # where coarser time bars begin (docs/bars.md, "Time zones and sessions"): whole
    # days are local days from the origin's time of day, the rest spaced from its instant
    timezone: TimeZone = "UTC"
    origin: LocalOrigin = datetime(1970, 1, 1)  # local, in `timezone`: "09:30", "2025-03-03T09:30"

    @field_validator("ticks", "volume", "dollars")
    @classmethod
    def _distinct(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(sorted(set(value)))

    @field_validator("intervals_ms")
    @classmethod
    def _multiples_of_the_finest(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        ordered = tuple(sorted(set(value)))
        if any(ms % ordered[0] for ms in ordered):
            raise ValueError(f"every interval must be a multiple of the finest, {ordered[0]} ms")
        return ordered

    @model_validator(mode="after")
    def _finest_divides_every_boundary(self) -> BarSettings:
        """Finest bars stay epoch-aligned, so each must fit whole in a coarser bar."""
        zone, ms = ZoneInfo(self.timezone), timedelta(milliseconds=1)
        instant_ms = (self.origin.replace(tzinfo=zone) - _EPOCH) // ms
        time_of_day_ms = (self.origin - datetime.combine(self.origin.date(), time())) // ms
        fine, zoned = self.intervals_ms[0], zone.key != "UTC"
        if instant_ms % fine or time_of_day_ms % fine or (zoned and _QUARTER_HOUR_MS % fine):
            raise ValueError(
                f"bars.intervals_ms: the finest interval, {fine} ms, must divide bars.origin"
                f" ({self.origin.isoformat()}) and, with bars.timezone not UTC, 15 minutes"
                " (900000 ms), so every bar boundary is one of a finest bar: add 60000, say"
            )
        return self


class WindowSettings(_Section):
    ticks_per_symbol: Positive = 1_024


class StoreSettings(_Section):
    max_symbols: Positive = 20_000  # per member; a new symbol beyond it is dead-lettered
    symbol_idle_ms: NonNegative = 86_400_000  # event time without a tick; 0: never expire


DEFAULT_INDICATORS: dict[str, list[dict[str, int | float]]] = {
    "sma": [{"period": 20}],
    "ema": [{"period": 20}],
    "rsi": [{"period": 14}],
    "macd": [{"fast": 12, "slow": 26, "signal": 9}],
    "bbands": [{"period": 20, "nbdevup": 2, "nbdevdn": 2}],
    "atr": [{"period": 14}],
    "vwap": [{"period": 20}],
}


class CacheSettings(_Section):
    budget_bytes: Positive = 256 * 1024 * 1024


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 9464


class MonitorSettings(_Section):
    """The GC-pressure monitor; every field but interval_ms and gc_* is a
    PressurePolicy field (docs/memory.md)."""

    interval_ms: Positive = 1_000
    budget_bytes: NonNegative = 0  # 0: budget_fraction of the cgroup limit, else of host RAM
    budget_fraction: Annotated[float, Field(gt=0, le=1)] = 0.8
    soft_ratio: Annotated[float, Field(gt=0, le=1)] = 0.80
    hard_ratio: Annotated[float, Field(gt=0, le=1)] = 0.95
    relief_ratio: Annotated[float, Field(gt=0, le=1)] = 0.70
    soft_evict_min_fraction: Annotated[float, Field(ge=0, le=1)] = 0.25
    psi_some_soft_ratio: Annotated[float, Field(ge=0, le=1)] = 0.10
    psi_full_hard_ratio: Annotated[float, Field(ge=0, le=1)] = 0.10
    trim_heap: bool = True
    gc_freeze: bool = True  # gc.freeze() the start-up objects (monitor/gc_tuning.py)
    gc_threshold0: NonNegative = 50_000  # gen-0 collection threshold; 0 = Python's (700)
    loop_stall_ms: NonNegative = 250  # log what holds the event loop longer; 0 = off

    @model_validator(mode="after")
    def _ordered(self) -> MonitorSettings:
        check_ratios(self.relief_ratio, self.soft_ratio, self.hard_ratio)
        return self


def check_ratios(relief: float, soft: float, hard: float) -> None:
    """The memory ratios' one rule (settings and ``PressurePolicy`` both apply it):
    relief below soft, so shedding ends under the level that started it."""
    if not 0 < relief < soft < hard:
        raise ValueError(
            f"need 0 < relief_ratio < soft_ratio < hard_ratio, got {relief}, {soft}, {hard}"
        )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    ingest: IngestSettings = IngestSettings()
    bars: BarSettings = BarSettings()
    window: WindowSettings = WindowSettings()
    store: StoreSettings = StoreSettings()
    # name -> list of parameter tables, parsed at start-up; see docs/indicators.md
    indicators: dict[str, list[dict[str, int | float]]] = Field(
        default_factory=lambda: {k: [dict(p) for p in v] for k, v in DEFAULT_INDICATORS.items()}
    )
    cache: CacheSettings = CacheSettings()
    http: HttpSettings = HttpSettings()
    monitor: MonitorSettings = MonitorSettings()
    # TICKSMITH_MEMORY_LIMIT_BYTES: the container's limit, as the k8s downward API
    # gives it; the budget uses the smaller of it and the cgroup's (docs/memory.md)
    memory_limit_bytes: Positive | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    toml_file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=Settings.toml_file)
        return (init_settings, env_settings, toml)


def load_settings(path: Path | None = None) -> Settings:
    """Load, validate and return the settings; raise ConfigError naming a bad one.

    The file is `path`, else $TICKSMITH_CONFIG, else none (built-in defaults).
    """
    raw = os.environ.get(CONFIG_ENV)
    file = path or (Path(raw) if raw else None)
    if file is not None and not file.is_file():
        raise ConfigError(f"config file {file} (from --config or {CONFIG_ENV}) does not exist")
    Settings.toml_file = file
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # malformed TOML or an env value that is not valid JSON
        raise ConfigError(f"cannot read configuration: {exc}") from None


def invalid_setting(loc: Sequence[str | int], message: str, got: object) -> str:
    """A bad setting found after loading (the indicator specs), worded as
    :func:`load_settings` words its own."""
    return "\n".join([_INVALID, _line(loc, message, f" (got {got!r})")])


def _describe(exc: ValidationError) -> str:
    lines = [_INVALID]
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"])
        secret = "password" in name or err["type"] == "extra_forbidden"
        got = "" if err["type"] == "missing" or secret else f" (got {err.get('input')!r})"
        lines.append(_line(err["loc"], err["msg"], got))
    return "\n".join(lines)


def _line(loc: Sequence[str | int], message: str, got: str) -> str:
    name = ".".join(str(part) for part in loc)
    env = ENV_PREFIX + "__".join(str(part) for part in loc).upper()
    return f"  setting {name} [env {env}]: {message}{got}"
