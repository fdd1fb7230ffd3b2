"""Kafka in: decode whole batches into tick columns, dead-letter what is bad."""
