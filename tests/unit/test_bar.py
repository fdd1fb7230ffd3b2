"""Every reader of a bar gets the fields ``bar.SERVED`` describes, in its order,
after the start: the output records, the API's rows and the cache's frames."""

import msgspec
import numpy as np

from ticksmith import output
from ticksmith.api.openapi import document
from ticksmith.bar import SERVED, START, START_COLUMN
from ticksmith.cache.frames import GrowingFrame, bars_to_frame
from ticksmith.store.bars import BAR_DTYPE

NAMES = [field.name for field in SERVED]


def test_an_output_record_has_the_served_fields_after_its_start_and_end() -> None:
    fields = [f.name for f in msgspec.structs.fields(output.BarRecord)]
    assert fields == ["symbol", "interval_ms", START.name, "end_ns", *NAMES, "indicators", "ready"]


def test_the_api_rows_are_described_with_the_served_fields() -> None:
    schemas = document((1_000,))["components"]["schemas"]
    for name in ("Bars", "Indicators"):
        row = schemas[name]["properties"]["rows"]["items"]["properties"]
        assert list(row) == [START_COLUMN, *NAMES]
        assert all(row[f.name]["description"] == f.description for f in SERVED)


def test_frames_have_the_served_columns_indexed_by_start() -> None:
    bars = np.zeros(3, BAR_DTYPE)
    frame = bars_to_frame(bars)
    assert list(frame.columns) == NAMES and frame.index.name == START_COLUMN
    fed = GrowingFrame(["sma_2"], keep=10)
    fed.append(bars, {"sma_2": np.zeros(3)})
    assert list(fed.snapshot().columns) == [*NAMES, "sma_2"]
    assert list(fed.rows(1, 3)) == [START_COLUMN, *NAMES, "sma_2"]
