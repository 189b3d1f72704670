"""Operator commands' logic, apart from the CLI so that tests call it directly: the consumer
groups' committed lag (what KEDA's Kafka scaler reads) and the replay of dead letters."""
