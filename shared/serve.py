"""Runs one service's API with its relay and consumers: ``python -m shared.serve intake``.

Uvicorn turns SIGTERM into a graceful shutdown: it stops accepting requests, then the
lifespan stops the relay and consumers after the work in hand.
"""

import argparse
import importlib
import logging

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service")
    args = parser.parse_args()
    module = importlib.import_module(f"services.{args.service}.app")
    settings = module.Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        module.create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
