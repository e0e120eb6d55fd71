"""PNG plots of a scripts/bench.py run (matplotlib, headless)."""
from __future__ import annotations

import os
import statistics
from typing import Any


def plot_all(directory: str, res: dict[str, Any], fixed: list[float], baseline: list[float]) -> list[str]:
    """Throughput by pool size, and the fixed-cost distribution next to ``docker run --rm true``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    written = []
    if "d" in res:
        written.append(_pool_plot(plt, directory, res))
    if fixed:
        written.append(_fixed_cost_plot(plt, directory, fixed, baseline))
    return written


def _pool_plot(plt, directory: str, res: dict[str, Any]) -> str:
    per_minute = res["d"]["jobs_per_minute"]
    pools = sorted(per_minute)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(pools, [per_minute[p] for p in pools], marker="o", label="pipeline (Docker, moto S3/SQS)")
    cli = res["a"]["ffmpeg_cli_s"]
    ax.scatter([2], [res["machine"]["clips"] / cli * 60], marker="x", color="red", zorder=3,
               label="ffmpeg CLI, same encodes, 2 at a time")
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


def _fixed_cost_plot(plt, directory: str, fixed: list[float], baseline: list[float]) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    bins = max(8, min(30, len(fixed)))
    ax.hist([fixed, baseline], bins=bins, label=["job − transcode (pipeline)", "docker run --rm IMAGE true"],
            color=["tab:blue", "tab:gray"])
    for values, color in ((fixed, "tab:blue"), (baseline, "tab:gray")):
        ax.axvline(statistics.median(values), color=color, linestyle="--", linewidth=1)
    ax.set_xlabel("seconds per job (1 s clips)")
    ax.set_ylabel("jobs")
    ax.set_title("Fixed cost per job (dashed: medians)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(directory, "bench_fixed_cost.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
