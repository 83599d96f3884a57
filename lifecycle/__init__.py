"""lifecycle"""

import os

# LightGBM's OpenMP threads spin a short while, then sleep, when they wait: spinning threads
# lose their time slices to each other when the cores are shared (the service, another job,
# test workers), and threads that sleep at once pay a wake-up at every barrier on a quiet
# machine (experiments/bench_threads.py, docs/benchmarks.md). Set before lightgbm loads
# libgomp; a wait policy or spin count the user set is kept.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")
