"""CPU priority for the processes that only do bookkeeping (the Ingress, the job board).

Where they share CPUs with a replica that denoises on the CPU (a laptop, this repo's CI
machine) every millisecond they take is a millisecond the pipeline waits; a higher nice
value lets the denoising go first and costs them nothing on an idle machine."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

logger = logging.getLogger("novagenia")


def lower_cpu_priority(niceness: int) -> None:
    """Sets this process's nice value to at least `niceness` (0 leaves it as is). On Linux
    nice is per thread, so every thread running now gets it; later ones inherit it."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    tasks = Path("/proc/self/task")
    thread_ids = [int(entry.name) for entry in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread_id in thread_ids:
        with contextlib.suppress(OSError):  # a thread that has just exited
            current = os.getpriority(os.PRIO_PROCESS, thread_id)
            os.setpriority(os.PRIO_PROCESS, thread_id, max(current, niceness))
    logger.info("CPU priority lowered to nice %d", niceness)
