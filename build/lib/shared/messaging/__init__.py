"""Never lose, never double-apply: outbox, relay, inbox consumer, dead letters, topics."""
