"""``python -m worker.sandbox.launch AS_BYTES CPU_SECONDS FSIZE_BYTES -- CMD...``

Applies resource limits and a parent-death signal to itself, then execs CMD.
A separate launcher (rather than ``preexec_fn``) is safe in a process with threads.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    """Set the limits, then replace this process with the command."""
    address_space, cpu_seconds, file_size = (int(x) for x in argv[:3])
    if argv[3] != "--" or len(argv) < 5:
        sys.exit("usage: launch AS CPU FSIZE -- CMD...")
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # If the pool child that started us dies (kill -9 included), so do we.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.umask(0o077)
    os.execv(argv[4], argv[4:])


if __name__ == "__main__":
    main(sys.argv[1:])
