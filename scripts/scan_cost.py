"""What the packet scan of container.timeline costs next to a decode of the same file (medians).

python scripts/scan_cost.py FILE [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import av

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from container.probe import main_streams, open_input  # noqa: E402
from container.sniff import sniff_file  # noqa: E402
from container.timeline import scan  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    demuxer = sniff_file(args.file).demuxer
    scans, decodes = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        with open_input(args.file, demuxer) as container:
            timeline = scan(container, [s for s in main_streams(container) if s is not None])
        scans.append(time.perf_counter() - started)
        started = time.perf_counter()
        with av.open(args.file) as container:
            for _frame in container.decode(video=0):
                pass
        decodes.append(time.perf_counter() - started)
    scan_s, decode_s = statistics.median(scans), statistics.median(decodes)
    print(
        f"{os.path.getsize(args.file) / 1e6:.0f} MB, {timeline.seconds:.1f} s of media: scan {scan_s:.3f} s, "
        f"video decode {decode_s:.2f} s, ratio {scan_s / decode_s:.3f} (medians of {args.runs})"
    )


if __name__ == "__main__":
    main()
