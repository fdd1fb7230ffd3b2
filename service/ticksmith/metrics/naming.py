"""The one namespace of every instrument: names follow Prometheus conventions,
base units in the name, ``_total`` for counters (prometheus-client adds the suffix)."""

NS = "ticksmith"
