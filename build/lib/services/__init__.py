"""The pipeline's services; each owns its database and publishes its state changes."""
