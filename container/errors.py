"""Errors of the sandbox program and the exit codes they become.

Exit codes are the contract with the host (``worker.sandbox.base``):
0 success, 64 usage, 65 rejected input, 70 internal error, 71 out of memory, 75 a warm sandbox that was
handed no job in its time (it did nothing; the host starts another).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 64
EXIT_REJECTED = 65
EXIT_INTERNAL = 70
EXIT_NO_MEMORY = 71
EXIT_IDLE = 75


class Rejected(Exception):
    """The input is unacceptable; ``reason`` is one of the worker's permanent reason codes."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class OutputCheckFailed(Exception):
    """An output did not pass its re-probe; never published."""
