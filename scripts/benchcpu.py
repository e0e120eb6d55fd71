"""Host CPU seconds of a benchmark pass, from /proc: what the pipeline (or the CLI) cost the machine."""

from __future__ import annotations

import glob
import os
import time
from typing import Any

ENGINE_PROCESSES = (
    "dockerd",
    "containerd",
)  # the engine's long-lived daemons (shims come and go per container)


def _engine_pids() -> list[int]:
    pids = []
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm) as fh:
                if fh.read().strip() in ENGINE_PROCESSES:
                    pids.append(int(comm.split("/")[2]))
        except OSError:
            continue
    return pids


def _process_cpu(pid: int) -> float:
    """User + system seconds of one process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _host_busy() -> float:
    """CPU seconds the whole host spent busy (user, nice, system, irq, softirq; not idle, iowait or steal)."""
    with open("/proc/stat") as fh:
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fh.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Host CPU seconds spent inside a ``with`` block: the whole host's minus this process's (the bench and
    the embedded moto server run here: they stand in for AWS), and of that the engine's daemons."""

    def __enter__(self) -> "CpuMeter":
        self._engine = _engine_pids()
        self._start = (_host_busy(), time.process_time(), sum(map(_process_cpu, self._engine)))
        return self

    def __exit__(self, *exc: Any) -> None:
        host, own, engine = (_host_busy(), time.process_time(), sum(map(_process_cpu, self._engine)))
        self.fake_aws = own - self._start[1]
        self.work = (host - self._start[0]) - self.fake_aws
        self.engine = engine - self._start[2]

    def per_job(self, jobs: int) -> dict[str, float]:
        """Per job: the whole host's busy CPU less this process's (anything else running on the host counts
        here too), the engine daemons', and this process's (the bench and moto)."""
        return {
            "host_cpu_s": self.work / jobs,
            "engine_cpu_s": self.engine / jobs,
            "bench_and_moto_cpu_s": self.fake_aws / jobs,
        }


def tree_cpu(pid: int) -> float:
    """User + system seconds of ``pid`` and every live descendant (a worker parent and its pool children;
    the sandboxes are the engine's children, not theirs)."""
    parents: dict[int, int] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as fh:
                parents[int(stat.split("/")[2])] = int(fh.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(_process_cpu(p) for p in tree)
