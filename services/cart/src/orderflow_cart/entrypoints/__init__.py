"""How the outside world reaches the service: Kafka subscribers, HTTP, the CLI."""
