"""A synthetic market: random-walk ticks for many symbols, written to Kafka."""
