"""How the service runs Python's cyclic garbage collector.

A fetch makes tens of thousands of short-lived container objects (aiokafka's
ConsumerRecord per record), which stay alive while the batch is processed. With
CPython's default gen-0 threshold (700) they trigger dozens of collections per
batch, survive into the older generations, and every older collection then
walks them together with everything the service built at start-up (modules,
pandas, the registry). Measured on the binary single-tick bench topic: ~25 % of
the service's time in collections, most of it in generation 2.

So, once start-up is done: collect, then ``gc.freeze()`` what exists (start-up
objects are never walked again; nothing garbage is frozen), and raise the gen-0
threshold so that a batch's objects are usually dead before a collection sees
them. Pauses are exported as ``ticksmith_gc_pause_seconds``. Both are undone on
exit (tests start the service many times in one process).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def tuned_gc(freeze: bool, threshold0: int) -> Iterator[None]:
    """`threshold0` 0 keeps the interpreter's thresholds."""
    before = gc.get_threshold()
    if freeze:
        gc.collect()
        gc.freeze()
    if threshold0:
        gc.set_threshold(threshold0, *before[1:])
    log.info(
        "gc: %d start-up objects frozen, thresholds %s", gc.get_freeze_count(), gc.get_threshold()
    )
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if freeze:
            gc.unfreeze()
