"""Kafka side of the platform: topic administration, the message contract and encoding,
publishing, tail."""
