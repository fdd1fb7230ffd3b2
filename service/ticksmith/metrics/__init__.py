"""Every Prometheus instrument ticksmith exports, defined here and nowhere else,
on a registry passed in (tests use a fresh one). docs/metrics.md describes each.

- data_path.py: ingest, bars, indicators, output, cache, store and the API
  (:class:`Metrics`, with prometheus-client's ``ProcessCollector``)
- memory.py: the memory monitor and the garbage collector (:class:`MemoryMetrics`)
- naming.py: the namespace every name starts with

It imports only prometheus_client and the standard library, so every part of the
service may use it: the data path counts here without importing the monitor.
"""

from ticksmith.metrics.data_path import Metrics
from ticksmith.metrics.memory import PAUSE_BUCKETS_SECONDS, GCMetrics, MemoryMetrics
from ticksmith.metrics.naming import NS

__all__ = ["NS", "PAUSE_BUCKETS_SECONDS", "GCMetrics", "MemoryMetrics", "Metrics"]
