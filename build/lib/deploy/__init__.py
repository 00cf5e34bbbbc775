"""Deployment assets and the local runtime (Kafka and PostgreSQL without Docker)."""
