"""Mechanisms every service shares: events, messaging, database, settings and the web layer."""
