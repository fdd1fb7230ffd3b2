"""Tick files for `ticksmith replay`: CSV, Parquet or JSON Lines, read a chunk at a time.

Each chunk comes out in the columns the writer encodes: symbol (str), ts (int64 ns
since the epoch, UTC), price and size (float64), side ("B" or "S"). The file's own
column names and timestamp unit are mapped from the command line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from ticksmith.errors import TicksmithError

REQUIRED = ("symbol", "ts", "price", "size")
COLUMNS = (*REQUIRED, "side")
TsUnit = Literal["ns", "us", "ms", "s", "iso"]
TS_UNITS: tuple[TsUnit, ...] = ("ns", "us", "ms", "s", "iso")
NS_PER: dict[str, int] = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
KINDS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}
KINDS[".ndjson"] = "jsonl"
_Convert = Callable[[pd.Series], npt.NDArray[Any]]


class TickFileError(TicksmithError):
    """The file cannot be read as ticks; the message names the column and the flag to fix."""


def parse_columns(text: str) -> dict[str, str]:
    """`symbol=SYM,ts=time` -> {"symbol": "SYM", "ts": "time"}: ours -> the file's."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        ours, sep, theirs = item.partition("=")
        if not sep or ours.strip() not in COLUMNS or not theirs.strip():
            raise TickFileError(
                f"--columns: cannot read {item!r}; expected NAME=COLUMN with NAME one of"
                f" {', '.join(COLUMNS)}"
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def kind_of(path: Path) -> str:
    """csv, parquet or jsonl, from the file name's ending."""
    name = path.name.lower()
    for suffix, kind in KINDS.items():
        if name.endswith(suffix):
            return kind
    raise TickFileError(f"{path}: unknown file type; name it {', '.join(KINDS)}")


@dataclass(frozen=True)
class TickFile:
    path: Path
    columns: Mapping[str, str] = field(default_factory=dict)  # ours -> the file's
    ts_unit: TsUnit = "ns"
    side_default: str | None = None  # for a file without a side column, or empty sides
    chunk_rows: int = 100_000

    def source(self, ours: str) -> str:
        return self.columns.get(ours, ours)

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The whole file, `chunk_rows` ticks at a time, in file order."""
        kind = kind_of(self.path)
        wanted = self._wanted(_header(self.path, kind))
        row = 0
        for raw in _raw_chunks(self.path, kind, wanted, self):
            yield self._normalise(raw, row)
            row += len(raw)

    def _wanted(self, header: list[str]) -> list[str]:
        """The file's columns to read; a missing one stops here, before anything is sent."""
        for ours in REQUIRED:
            if self.source(ours) not in header:
                raise self._missing(ours, header)
        side = self.source("side")
        if side not in header and self.side_default is None:
            raise TickFileError(
                f"{self.path}: no column {side!r} for side; map it with --columns side=NAME"
                f" or give every tick one side with --side-default B|S"
                f" (the file has: {', '.join(header)})"
            )
        return [self.source(c) for c in COLUMNS if self.source(c) in header]

    def _missing(self, ours: str, header: list[str]) -> TickFileError:
        return TickFileError(
            f"{self.path}: no column {self.source(ours)!r} for {ours}; map it with"
            f" --columns {ours}=NAME (the file has: {', '.join(header)})"
        )

    def _normalise(self, raw: pd.DataFrame, row: int) -> pd.DataFrame:
        for ours in REQUIRED:
            self._no_empty(raw[self.source(ours)], ours, row)
        return pd.DataFrame(
            {
                "symbol": raw[self.source("symbol")].astype(str).to_numpy(dtype=object),
                "ts": self._column("ts", row, lambda s: to_ns(s, self.ts_unit), raw),
                "price": self._column("price", row, _floats, raw),
                "size": self._column("size", row, _floats, raw),
                "side": self._sides(raw, row),
            }
        )

    def _column(
        self, ours: str, row: int, convert: _Convert, raw: pd.DataFrame
    ) -> npt.NDArray[Any]:
        try:
            return convert(raw[self.source(ours)])
        except (ValueError, TypeError, OverflowError) as exc:
            hint = " (is --ts-unit right?)" if ours == "ts" else ""
            raise TickFileError(
                f"{self.path}: column {self.source(ours)!r} ({ours}) in rows {row + 1}.."
                f"{row + len(raw)}: {exc}{hint}"
            ) from None

    def _no_empty(self, column: pd.Series, ours: str, row: int) -> None:
        empty = np.flatnonzero(column.isna().to_numpy())
        if len(empty):
            raise TickFileError(
                f"{self.path}: column {self.source(ours)!r} ({ours}) is empty in"
                f" {len(empty)} rows, the first row {row + int(empty[0]) + 1}"
            )

    def _sides(self, raw: pd.DataFrame, row: int) -> npt.NDArray[np.object_]:
        name = self.source("side")
        if name not in raw:
            return np.full(len(raw), self.side_default, dtype=object)
        column = raw[name] if self.side_default is None else raw[name].fillna(self.side_default)
        self._no_empty(column, "side", row)
        side = column.astype(str).str.strip().str[:1].str.upper()  # B, buy, s, Sell
        bad = np.flatnonzero(~side.isin(["B", "S"]).to_numpy())
        if len(bad):
            raise TickFileError(
                f"{self.path}: column {name!r} (side) holds {column.iloc[bad[0]]!r} in row"
                f" {row + int(bad[0]) + 1}; sides are B/buy or S/sell"
            )
        return np.asarray(side.to_numpy(dtype=object), dtype=object)


def to_ns(column: pd.Series, unit: TsUnit) -> npt.NDArray[np.int64]:
    """Event times as int64 ns since the epoch, UTC. A datetime column (Parquet's
    timestamp type) is taken as it is; ISO text with a zone is converted to UTC,
    without one it is taken as UTC; numbers are scaled from `unit`."""
    if unit == "iso" or pd.api.types.is_datetime64_any_dtype(column):
        stamps = pd.to_datetime(column, utc=True, format="ISO8601")
        return np.asarray(pd.DatetimeIndex(stamps).as_unit("ns").asi8, dtype=np.int64)
    numbers = column if pd.api.types.is_numeric_dtype(column) else pd.to_numeric(column)
    if pd.api.types.is_integer_dtype(numbers):
        return np.asarray(numbers.to_numpy(np.int64) * NS_PER[unit], dtype=np.int64)
    return np.asarray(np.round(numbers.to_numpy(np.float64) * NS_PER[unit]), dtype=np.int64)


def _floats(column: pd.Series) -> npt.NDArray[np.float64]:
    return np.asarray(pd.to_numeric(column), dtype=np.float64)


def _header(path: Path, kind: str) -> list[str]:
    try:
        if kind == "parquet":
            return list(pq.ParquetFile(path).schema_arrow.names)
        if kind == "csv":
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        with path.open() as f:
            first = f.readline()
        return list(json.loads(first)) if first.strip() else []
    except (OSError, ValueError) as exc:
        raise TickFileError(f"{path}: cannot read: {exc}") from None


def _raw_chunks(path: Path, kind: str, wanted: list[str], spec: TickFile) -> Iterator[pd.DataFrame]:
    n = spec.chunk_rows
    if kind == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=n, columns=wanted):
            yield batch.to_pandas()
    elif kind == "csv":
        text = {spec.source(c): str for c in ("symbol", "side")}
        if spec.ts_unit == "iso":
            text[spec.source("ts")] = str
        yield from pd.read_csv(path, usecols=wanted, dtype=text, chunksize=n)
    else:
        # dtype=False: no guessing (a "timestamp" column would be turned into dates);
        # precise_float so a price reads back as the number written
        reader = pd.read_json(path, lines=True, chunksize=n, dtype=False, precise_float=True)
        with reader:
            for raw in reader:
                yield raw[wanted]
