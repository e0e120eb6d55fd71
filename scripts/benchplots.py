"""PNG plots of a scripts/bench.py run (matplotlib, headless)."""

from __future__ import annotations

import os
import statistics
from typing import Any


def plot_all(directory: str, res: dict[str, Any], fixed: dict[str, list[float]]) -> list[str]:
    """Throughput by pool size, and each b pass's fixed costs (series name → seconds per job) next to the
    ``docker run --rm true`` baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    written = []
    if "d" in res:
        written.append(_pool_plot(plt, directory, res))
    if fixed:
        written.append(_fixed_cost_plot(plt, directory, fixed))
    return written


def _pool_plot(plt, directory: str, res: dict[str, Any]) -> str:
    per_minute = res["d"]["jobs_per_minute"]
    pools = sorted(per_minute)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(pools, [per_minute[p] for p in pools], marker="o", label="pipeline (Docker, moto S3/SQS)")
    cli = res["a"]["ffmpeg_cli_s"]
    ax.scatter(
        [2],
        [res["machine"]["clips"] / cli * 60],
        marker="x",
        color="red",
        zorder=3,
        label="ffmpeg CLI, same encodes, 2 at a time",
    )
    ax.set_xlabel("pool size")
    ax.set_ylabel("clips per minute")
    ax.set_xticks(pools)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Throughput by pool size ({res['machine']['cpus']} CPUs)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = os.path.join(directory, "bench_pool.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fixed_cost_plot(plt, directory: str, fixed: dict[str, list[float]]) -> str:
    names = list(fixed)
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.45 * len(names)))
    ax.boxplot([fixed[n] for n in names], orientation="horizontal", whis=(5, 95), showfliers=False)
    ax.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    for i, name in enumerate(names, start=1):
        ax.annotate(
            f"{statistics.median(fixed[name]):.2f} s",
            (statistics.median(fixed[name]), i + 0.3),
            fontsize=7,
            ha="center",
        )
    ax.set_xlabel("seconds per job: job − transcode, one job at a time (whiskers: p5–p95)")
    ax.set_xlim(left=0)
    ax.set_title("Fixed cost per job")
    fig.tight_layout()
    path = os.path.join(directory, "bench_fixed_cost.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
