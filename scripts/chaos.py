#!/usr/bin/env python3
"""Chaos and load runs against a real worker process (Docker runtime) on the local stack.

    python scripts/chaos.py --jobs 1000                      # every fault kind, 5 % S3/SQS errors, 2 workers
    python scripts/chaos.py --jobs 300 --unversioned         # the temp bucket without versioning
    python scripts/chaos.py --jobs 1000 --faults none --error-rate 0   # load/soak: RSS, fds, jobs/min

Prints progress, then the report as JSON (also written to --report); exits 1 if an invariant broke.
Needs root (a dedicated tmpfs for the full-disk fault), a Docker engine and the images.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.chaos.faults import FAULT_KINDS  # noqa: E402
from tests.chaos.harness import ChaosConfig, run_chaos  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=2, help="children of each worker")
    parser.add_argument("--workers", type=int, default=2, help="worker processes on the one queue (as hosts)")
    parser.add_argument("--unversioned", action="store_true", help="leave the temp bucket unversioned")
    parser.add_argument(
        "--faults", default="all", help=f"comma list of {','.join(FAULT_KINDS)}, 'all' or 'none'"
    )
    parser.add_argument("--error-rate", type=float, default=0.05, help="share of S3/SQS requests that fail")
    parser.add_argument("--fault-every", type=float, default=2.0, help="seconds between injected faults")
    parser.add_argument("--hostile-share", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", default="", help="also write the JSON report here")
    args = parser.parse_args()
    faults = (
        FAULT_KINDS
        if args.faults == "all"
        else ()
        if args.faults == "none"
        else tuple(args.faults.split(","))
    )
    os.environ.setdefault("MEDIA_WORKER_LOG_FORMAT", "json")
    config = ChaosConfig(
        jobs=args.jobs,
        pool=args.pool,
        workers=args.workers,
        versioned=not args.unversioned,
        faults=faults,
        error_rate=args.error_rate,
        fault_every=args.fault_every,
        hostile_share=args.hostile_share,
        timeout=args.timeout,
        seed=args.seed,
    )
    report = run_chaos(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    text = report.to_json()
    print(text)
    if args.report:
        with open(args.report, "w") as fh:
            fh.write(text)
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
