"""What running a job on a Dask worker adds to running it here: the same small job, timed from the
caller's side, alternately through the local executor and through a one-worker cluster (a real
scheduler and worker process on loopback), interleaved so drift hits both alike.

    python3 scripts/cluster_overhead.py [--repeats 30]

Prints the median per-job wall time of each, their difference (Dask's overhead per job) with a
95 % CI from a bootstrap over the paired repeats, and the goal (≤ 0.2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from adcompare.run import checkout, cluster, plan
    from adcompare.run.processes import Processes
    from adcompare.run.worker import QUICK

    job = plan.figure_job("time_operators.Operators.track_seconds", ("numpy:cpu", "float64", "square:1", "vjp"),
                          "main")
    scratch = Path(tempfile.mkdtemp(prefix="adcompare-overhead-"))
    os.environ.update(checkout.measurement_env("main", checkout.ROOT, scratch))
    local = Processes(QUICK, 120.0, scratch)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, resources={cluster.RESOURCE: 1},
                      dashboard_address=None) as lc, Client(lc) as client:
        remote = cluster.Cluster(client, QUICK, 120.0, "main", ["numpy"], log=lambda line: None)
        remote.identify()
        local.run(job, 1)                                          # warm both: fork servers, imports
        remote.run_all([(job, 1)], lambda r: None)
        here, there = [], []
        for i in range(args.repeats):
            for name, runner in (("here", lambda: local.run(job, 1)),
                                 ("there", lambda: remote.run_all([(job, 1)], lambda r: None)))[::1 if i % 2 else -1]:
                start = time.perf_counter()
                runner()
                (here if name == "here" else there).append(time.perf_counter() - start)
    diffs = np.array(there) - np.array(here)
    rng = np.random.default_rng(20261203)
    boot = [np.median(rng.choice(diffs, diffs.size)) for _ in range(4000)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    print(f"per job, median of {args.repeats} paired repeats: here {statistics.median(here):.3f} s, "
          f"on a Dask worker {statistics.median(there):.3f} s")
    print(f"Dask's overhead per job: {np.median(diffs):.3f} s [{lo:.3f}, {hi:.3f}] (95 % CI; goal ≤ 0.2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
