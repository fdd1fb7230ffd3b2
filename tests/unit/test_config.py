from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import start_up
from ticksmith.config import Settings, load_settings
from ticksmith.errors import ConfigError
from ticksmith.indicators import indicator_specs

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("no_settings_env")


def test_the_shipped_config_file_holds_exactly_the_defaults() -> None:
    assert load_settings(ROOT / "config" / "ticksmith.toml") == load_settings()


def test_environment_overrides_the_file_one_setting_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKSMITH_KAFKA__BOOTSTRAP_SERVERS", "broker:29092")
    monkeypatch.setenv("TICKSMITH_INDICATORS__SMA", '[{"period": 5}, {"period": 50}]')
    settings = load_settings(ROOT / "config" / "ticksmith.toml")
    assert settings.kafka.bootstrap_servers == "broker:29092"
    assert settings.kafka.group_id == "ticksmith"
    labels = [s.label for s in indicator_specs(settings)]
    assert [x for x in labels if x.startswith("sma")] == ["sma_5", "sma_50"]
    assert "rsi_14" in labels  # the other indicators keep the file's tables


def test_a_bad_value_in_the_file_is_named(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text('[kafka]\nauto_offset_reset = "middle"\n')
    with pytest.raises(
        ConfigError, match=r"setting kafka\.auto_offset_reset .*'earliest' or 'latest'"
    ):
        load_settings(file)


def test_an_unknown_setting_is_refused_not_ignored(tmp_path: Path) -> None:
    file = tmp_path / "typo.toml"
    file.write_text("[bars]\ninterval_sec = 5\n")
    with pytest.raises(ConfigError, match=r"setting bars\.interval_sec"):
        load_settings(file)


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_settings_are_frozen() -> None:
    settings: Settings = load_settings()
    with pytest.raises(ValueError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_a_bad_setting_stops_start_up_naming_it() -> None:
    proc = start_up({"TICKSMITH_BARS__HISTORY_BARS": "-5"})
    assert proc.returncode == 2
    assert "bars.history_bars" in proc.stderr and "TICKSMITH_BARS__HISTORY_BARS" in proc.stderr


def test_the_kafka_timing_defaults() -> None:
    kafka = load_settings().kafka
    assert (kafka.fetch_min_bytes, kafka.fetch_max_wait_ms) == (1_048_576, 3)
    assert kafka.commit_interval_ms == 100


@pytest.mark.parametrize(
    ("setting", "good", "bad"),
    [
        ("commit_interval_ms", "0", "-1"),  # 0: a commit per batch
        ("fetch_max_wait_ms", "1", "0"),  # 0 would poll in a tight loop
    ],
)
def test_a_kafka_timing_out_of_range_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, setting: str, good: str, bad: str
) -> None:
    """At start-up a refused setting exits 2 naming it
    (test_a_bad_setting_stops_start_up_naming_it)."""
    variable = f"TICKSMITH_KAFKA__{setting.upper()}"
    monkeypatch.setenv(variable, good)
    assert getattr(load_settings().kafka, setting) == int(good)
    monkeypatch.setenv(variable, bad)
    with pytest.raises(ConfigError, match=rf"setting kafka\.{setting} .*{variable}"):
        load_settings()


def test_intervals_must_be_multiples_of_the_finest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKSMITH_BARS__INTERVALS_MS", "[1000, 60000, 1500]")
    with pytest.raises(ConfigError, match=r"setting bars\.intervals_ms .*multiple of the finest"):
        load_settings()


def test_a_bad_indicator_parameter_is_named(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[indicators]\nmacd = [{ fast = 12, slow = 5, signal = 9 }]\n")
    settings = load_settings(file)  # the shape is right: config looks no further
    with pytest.raises(ConfigError, match=r"setting indicators .*: indicators\.macd\[0\]: macd"):
        indicator_specs(settings)


def test_indicators_of_the_wrong_shape_are_refused_on_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKSMITH_INDICATORS__SMA", '{"period": 3}')
    with pytest.raises(ConfigError, match=r"setting indicators\.sma .*valid list"):
        load_settings()


def test_a_bad_indicator_stops_start_up_naming_it() -> None:
    proc = start_up({"TICKSMITH_INDICATORS__MACD": '[{"fast": 12, "slow": 5, "signal": 9}]'})
    assert proc.returncode == 2
    assert "indicators.macd[0]" in proc.stderr and "TICKSMITH_INDICATORS" in proc.stderr


@pytest.mark.parametrize(
    ("given", "ns"),
    [
        ("1990-01-01", 631_152_000 * 10**9),
        ("1990-01-01T00:00:01+01:00", (631_152_000 + 1 - 3_600) * 10**9),
        ("631152000000000000", 631_152_000 * 10**9),
    ],
)
def test_the_event_time_floor_takes_a_date_or_nanoseconds(
    monkeypatch: pytest.MonkeyPatch, given: str, ns: int
) -> None:
    monkeypatch.setenv("TICKSMITH_INGEST__MIN_EVENT_TIME", given)
    assert load_settings().ingest.min_event_time == ns


def test_the_event_time_floor_takes_a_toml_date(tmp_path: Path) -> None:
    file = tmp_path / "historic.toml"
    file.write_text("[ingest]\nmin_event_time = 1987-10-19\n")
    assert load_settings(file).ingest.min_event_time == 561_600_000 * 10**9
    assert load_settings().ingest.min_event_time == 946_684_800 * 10**9  # 2000-01-01


# the last: fullwidth digits, which int() reads; the setting takes ASCII digits only
@pytest.mark.parametrize(
    "bad", ["yesterday", "1969-12-31", "-5", "1e18", "\uff12\uff10\uff10\uff10"]
)
def test_a_bad_event_time_floor_is_named(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("TICKSMITH_INGEST__MIN_EVENT_TIME", bad)
    with pytest.raises(ConfigError, match=r"setting ingest\.min_event_time .*date"):
        load_settings()


def test_a_bad_event_time_floor_stops_start_up_naming_it() -> None:
    proc = start_up({"TICKSMITH_INGEST__MIN_EVENT_TIME": "2000-13-01"})
    assert proc.returncode == 2
    assert "ingest.min_event_time" in proc.stderr and "date" in proc.stderr
    assert "TICKSMITH_INGEST__MIN_EVENT_TIME" in proc.stderr


def test_activity_bars_are_read_from_the_bars_section(tmp_path: Path) -> None:
    file = tmp_path / "activity.toml"
    file.write_text("[bars]\nticks = [100, 20, 100]\nvolume = [5000.0]\ndollars = [1e6]\n")
    bars = load_settings(file).bars
    assert (bars.ticks, bars.volume, bars.dollars) == ((20, 100), (5000.0,), (1e6,))
    assert load_settings().bars.ticks == ()  # none by default


@pytest.mark.parametrize(
    ("line", "setting"),
    [("dollars = [0.0]", r"bars\.dollars\.0"), ("volume = [inf]", r"bars\.volume\.0"),
     ("ticks = [2.5]", r"bars\.ticks\.0"), ("activity_anchor_ms = 0", r"bars\.activity_anchor_ms")],
)  # fmt: skip
def test_a_bad_activity_bar_setting_is_named(tmp_path: Path, line: str, setting: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(f"[bars]\n{line}\n")
    with pytest.raises(ConfigError, match=rf"setting {setting} "):
        load_settings(file)


def test_a_time_zone_and_an_origin_are_read_as_local_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKSMITH_BARS__INTERVALS_MS", "[60000, 3600000, 86400000]")
    monkeypatch.setenv("TICKSMITH_BARS__TIMEZONE", "America/New_York")
    monkeypatch.setenv("TICKSMITH_BARS__ORIGIN", "09:30")
    assert load_settings().bars.origin == datetime(1970, 1, 1, 9, 30)  # a time alone: 1970-01-01
    monkeypatch.setenv("TICKSMITH_BARS__ORIGIN", "2025-03-03T09:30")
    assert load_settings().bars.origin == datetime(2025, 3, 3, 9, 30)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TIMEZONE": "America/Gotham"}, r"setting bars\.timezone .*IANA time zone name"),
        ({"ORIGIN": "2025-03-03T09:30+01:00"}, r"setting bars\.origin .*timezone"),
        (  # an hourly finest bar cannot end where India's half-hour offset puts a day's end
            {"TIMEZONE": "Asia/Kolkata", "INTERVALS_MS": "[3600000, 86400000]"},
            r"finest interval, 3600000 ms, must divide .* 15 minutes",
        ),
        ({"ORIGIN": "09:30:30"}, r"finest interval, 60000 ms, must divide bars\.origin"),
    ],
)
def test_a_calendar_the_finest_bars_cannot_tile_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("TICKSMITH_BARS__INTERVALS_MS", "[60000, 86400000]")
    for name, value in env.items():
        monkeypatch.setenv(f"TICKSMITH_BARS__{name}", value)
    with pytest.raises(ConfigError, match=message):
        load_settings()
