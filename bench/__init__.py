"""Benchmarks that print ratios measured side by side in one run (see README).

Ray starts its workers (the replicas) at nice 15, while the direct runs of a benchmark
are at nice 0: on a busy machine that alone would skew served-vs-direct, so benchmarks
run Ray's workers at 0 too."""

import os

os.environ.setdefault("RAY_worker_niceness", "0")
