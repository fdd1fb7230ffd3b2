"""ticksmith: market ticks from Kafka into bars and indicators, served from a
memory-bounded cache of weakref.proxy values."""

__version__ = "0.1.0"
