"""Shared value types for ticks on the ingest path: a batch is columns, not objects."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Self

import numpy as np
import numpy.typing as npt

SIDES = ("B", "S")  # side codes: index in this tuple
Index = npt.NDArray[np.intp] | npt.NDArray[np.bool_] | slice


@dataclass(frozen=True, slots=True)
class Ticks:
    """Ticks as aligned columns, one element per tick; a subclass adds columns
    that say where each tick came from.

    A tick's symbol is ``names[code]``: the decoders name each record's symbol
    once, so no per-tick string is made or hashed on the hot path. ``names`` may
    hold symbols that no tick has any more (after ``take``).
    """

    code: npt.NDArray[np.intp]
    names: npt.NDArray[np.object_]
    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def symbol(self) -> npt.NDArray[np.object_]:
        """Each tick's symbol (a new object array: not for the hot path)."""
        return self.names[self.code]

    def take(self, index: Index) -> Self:
        """The ticks at `index` (a whole column at a time; ``names`` is kept)."""
        return replace(self, **{name: getattr(self, name)[index] for name in _per_tick(type(self))})

    @classmethod
    def concat(cls, parts: Sequence[Self]) -> Self:
        """One set of columns; each part's codes are shifted past the names before it
        (a symbol named by two parts has two codes: that is allowed)."""
        shift = np.cumsum([0] + [len(p.names) for p in parts[:-1]])
        joined = {n: np.concatenate([getattr(p, n) for p in parts]) for n in _per_tick(cls)}
        joined["code"] = np.concatenate([p.code + k for p, k in zip(parts, shift, strict=True)])
        return cls(names=np.concatenate([p.names for p in parts]), **joined)

    @classmethod
    def empty(cls) -> Self:
        return cls(**{name: np.empty(0, dtype) for name, dtype in _dtypes(cls).items()})


@dataclass(frozen=True, slots=True)
class TickBatch(Ticks):
    """Ticks decoded from one fetch, in partition order. `partition` and `offset`
    say which record each tick came from, so effects can be traced back to
    offsets (a binary record may carry many ticks)."""

    partition: npt.NDArray[np.int32]
    offset: npt.NDArray[np.int64]


def _dtypes(cls: type[Ticks]) -> dict[str, np.dtype[np.generic]]:
    """Each column's dtype, read from its annotation (``NDArray[scalar type]``)."""
    if cls not in _DTYPES:
        hints = typing.get_type_hints(cls)
        arrays = {f.name: typing.get_args(hints[f.name])[1] for f in fields(cls)}
        _DTYPES[cls] = {name: np.dtype(typing.get_args(a)[0]) for name, a in arrays.items()}
    return _DTYPES[cls]


def _per_tick(cls: type[Ticks]) -> tuple[str, ...]:
    """The columns with an element per tick: all but ``names``."""
    return tuple(f.name for f in fields(cls) if f.name != "names")


_DTYPES: dict[type[Ticks], dict[str, np.dtype[np.generic]]] = {}
