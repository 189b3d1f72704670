"""A thin layer over confluent-kafka: client configuration and topic administration."""
