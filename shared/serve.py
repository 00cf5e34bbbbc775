"""Serves one service over HTTP with the loops of its role (see ``python -m shared``).

Uvicorn turns SIGTERM into a graceful shutdown: it stops accepting requests, then the
lifespan stops the relay and consumers after the work in hand.
"""

import importlib
import logging

import uvicorn


def serve(service: str) -> None:
    module = importlib.import_module(f"services.{service}.app")
    settings = module.Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        module.create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=20,
    )
