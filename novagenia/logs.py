"""Logging for NovaGenIA's own loggers inside Ray workers (replicas, the board, the
downloader), which otherwise have no handler: their INFO lines (model load times, LoRA
switches, requeues) would vanish. Ray collects worker stderr into its logs and shows it
under `serve run`."""

from __future__ import annotations

import logging


def configure_logging(level: int = logging.INFO) -> None:
    logger = logging.getLogger("novagenia")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
