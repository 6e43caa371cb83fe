#!/usr/bin/env python3
"""timeit.py N PREPARE_SQL CMD...: run CMD N times (PREPARE_SQL before each,
untimed, through psql on $DATABASE_URL; "" for none) and print min, median
and max wall time in milliseconds. A failing CMD stops the benchmark."""
import os, subprocess, sys, time

n, prep, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
times = []
for _ in range(n):
    if prep:
        subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", os.environ["DATABASE_URL"],
                        "-c", prep], check=True, stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t1 = time.perf_counter()
    if r.returncode != 0:
        sys.exit("bench: %s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.decode()[-500:]))
    times.append((t1 - t0) * 1000)
times.sort()
print("min %.1f ms  median %.1f ms  max %.1f ms  (%d runs)" % (times[0], times[len(times) // 2], times[-1], n))
