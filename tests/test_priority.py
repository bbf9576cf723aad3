"""Bookkeeping processes lower their CPU priority so a CPU replica's denoising goes first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import os, threading, time
from novagenia.priority import lower_cpu_priority
started = threading.Event()
done = threading.Event()
def wait():
    started.set()
    done.wait()
worker = threading.Thread(target=wait)
worker.start()
started.wait()
lower_cpu_priority({nice})
niceness = {{int(tid): os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in os.listdir("/proc/self/task")}}
later = []
thread = threading.Thread(target=lambda: later.append(os.getpriority(os.PRIO_PROCESS, 0)))
thread.start(); thread.join()
done.set(); worker.join()
print(sorted(set(niceness.values())), later[0])
"""


def run(nice: int) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(nice=nice)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    return result.stdout.strip()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="per-thread nice is Linux's")
def test_every_thread_and_later_ones_get_the_nice_value():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    target = min(19, base + 5)
    assert run(target) == f"[{target}] {target}"


def test_zero_leaves_the_priority_as_it_is():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert run(0) == f"[{base}] {base}"
