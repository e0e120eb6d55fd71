"""Where untrusted media is touched: one isolated run of the ``container`` program per job."""

from worker.sandbox.base import (
    Sandbox,
    SandboxRequest,
    SandboxResult,
    create_sandbox,
    reap_sandboxes,
    resolve_runtime,
    runtime_problem,
)

__all__ = [
    "Sandbox",
    "SandboxRequest",
    "SandboxResult",
    "create_sandbox",
    "reap_sandboxes",
    "resolve_runtime",
    "runtime_problem",
]
