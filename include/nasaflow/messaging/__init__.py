"""Kafka side of the platform: topic administration, message schema, publishing, tail."""
