"""Tick files: each file type read in chunks, columns mapped, timestamps to int64 ns UTC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.tick_file import TickFile, TickFileError, parse_columns, to_ns

TICKS = Market(symbol_names(7), seed=3).chunk(2_500)
VENDOR = {"symbol": "SYM", "ts": "time", "price": "px", "size": "qty", "side": "side"}


def write(ticks: pd.DataFrame, path: Path) -> Path:
    """`ticks` to `path` in the type its name says."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        ticks.to_parquet(path, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        ticks.to_csv(path, index=False)
    else:
        with path.open("w") as f:
            for row in ticks.to_dict("records"):
                f.write(json.dumps(row) + "\n")
    return path


def read(file: TickFile) -> list[pd.DataFrame]:
    return list(file.chunks())


@pytest.mark.parametrize(
    "name", ["t.csv", "t.csv.gz", "t.parquet", "t.jsonl", "t.ndjson", "T.PARQUET"]
)
def test_every_file_type_reads_back_the_same_ticks_in_chunks(tmp_path: Path, name: str) -> None:
    chunks = read(TickFile(write(TICKS, tmp_path / name), chunk_rows=1_000))
    assert [len(c) for c in chunks] == [1_000, 1_000, 500]
    got = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(got, TICKS, check_dtype=False)
    assert got["ts"].dtype == np.int64 and got["price"].dtype == np.float64


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.jsonl"])
def test_columns_are_mapped_from_the_files_names(tmp_path: Path, name: str) -> None:
    renamed = TICKS.rename(columns=VENDOR).assign(extra=1)
    file = TickFile(write(renamed, tmp_path / name), VENDOR)
    pd.testing.assert_frame_equal(pd.concat(read(file), ignore_index=True), TICKS)


def test_parse_columns_reads_the_flag_and_refuses_unknown_names() -> None:
    assert parse_columns("symbol=SYM, ts=time,price=px,size=qty,side=side") == VENDOR
    assert parse_columns("") == {}
    for bad in ("bid=px", "price", "price="):
        with pytest.raises(TickFileError, match="--columns"):
            parse_columns(bad)


@pytest.mark.parametrize(
    ("unit", "values"),
    [
        ("ns", [1_732_459_200_123_456_789]),
        ("us", [1_732_459_200_123_456]),
        ("ms", [1_732_459_200_123]),
        ("s", [1_732_459_200]),
        ("s", [1_732_459_200.5]),
    ],
)
def test_numeric_units_are_scaled_to_ns(unit: str, values: list[float]) -> None:
    scale = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}[unit]
    got = to_ns(pd.Series(values), unit)  # type: ignore[arg-type]
    assert got.dtype == np.int64
    assert got.tolist() == [round(v * scale) for v in values]


def test_iso_times_with_a_zone_become_utc_and_without_one_are_taken_as_utc() -> None:
    text = pd.Series(
        [
            "2024-11-24T15:40:00.123456789+01:00",
            "2024-11-24T14:40:00.123456789Z",
            "2024-11-24T14:40:00.123456789",
            "2024-11-24 09:40:00-05:00",
        ]
    )
    utc = 1_732_459_200_123_456_789
    assert to_ns(text, "iso").tolist() == [utc, utc, utc, utc - 123_456_789]


def test_a_parquet_timestamp_column_is_taken_as_it_is(tmp_path: Path) -> None:
    stamped = TICKS.assign(ts=pd.to_datetime(TICKS["ts"], unit="ns", utc=True))
    got = pd.concat(read(TickFile(write(stamped, tmp_path / "t.parquet"))))
    assert got["ts"].tolist() == TICKS["ts"].tolist()


def test_a_missing_column_names_itself_and_the_flag(tmp_path: Path) -> None:
    path = write(TICKS.rename(columns={"price": "px"}), tmp_path / "t.csv")
    with pytest.raises(TickFileError, match=r"no column 'price' for price; .*--columns price="):
        read(TickFile(path))
    with pytest.raises(TickFileError, match=r"no column 'last' for price"):
        read(TickFile(path, {"price": "last"}))


def test_without_sides_the_default_side_is_needed(tmp_path: Path) -> None:
    path = write(TICKS.drop(columns="side"), tmp_path / "t.parquet")
    with pytest.raises(TickFileError, match="--side-default"):
        read(TickFile(path))
    (chunk,) = read(TickFile(path, side_default="S"))
    assert set(chunk["side"]) == {"S"}


def test_sides_may_be_words_and_anything_else_is_refused(tmp_path: Path) -> None:
    words = TICKS.head(4).assign(side=["buy", "Sell", "b", " S"])
    (chunk,) = read(TickFile(write(words, tmp_path / "w.csv")))
    assert chunk["side"].tolist() == ["B", "S", "B", "S"]
    bad = TICKS.head(4).assign(side=["B", "S", "X", "B"])
    with pytest.raises(TickFileError, match=r"'X' in row 3"):
        read(TickFile(write(bad, tmp_path / "b.csv")))


def test_bad_values_name_the_column_and_the_rows(tmp_path: Path) -> None:
    text = TICKS.head(10).assign(ts=TICKS["ts"].head(10).astype(str).str.cat(["x"] * 10))
    with pytest.raises(TickFileError, match=r"'ts' \(ts\) in rows 1\.\.10: .*--ts-unit"):
        read(TickFile(write(text, tmp_path / "t.csv")))
    holes = TICKS.head(10).astype({"price": float})
    holes.loc[6, "price"] = np.nan
    with pytest.raises(
        TickFileError, match=r"'price' \(price\) is empty in 1 rows, the first row 7"
    ):
        read(TickFile(write(holes, tmp_path / "h.parquet")))


def test_an_unknown_file_type_says_which_are_known(tmp_path: Path) -> None:
    with pytest.raises(TickFileError, match=r"unknown file type; name it .csv"):
        read(TickFile(tmp_path / "ticks.xlsx"))
