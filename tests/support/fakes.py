"""Fakes at seams we own (the sandbox). The real runtimes are tested on their own and end to end."""

from __future__ import annotations

import time

from worker.errors import Reason, ResourceExhausted, RetryableError
from worker.sandbox.base import SandboxRequest, SandboxResult
from worker.sandbox.process import ProcessSandbox


class SlowSandbox(ProcessSandbox):
    """The real process runtime, after a pause: a job that outlives its visibility timeout."""

    delay = 6.0

    def run(self, request: SandboxRequest) -> SandboxResult:
        time.sleep(self.delay)
        return super().run(request)


class FailingSandbox(ProcessSandbox):
    """Always a retryable failure: drives a message through backoff to the DLQ."""

    def run(self, request: SandboxRequest) -> SandboxResult:
        raise RetryableError(Reason.SANDBOX_ERROR, "injected failure")


class ScriptedSandbox(ProcessSandbox):
    """The real process runtime, except for the failures it is told to play.

    ``script``: one reason a call (``sandbox_error``, ``sandbox_timeout``, ``sandbox_oom``, or ``ok``), counted
    across pool children in the file ``counter``; past its end every call runs for real. ``fail_kind``: every
    job of that media kind fails with ``sandbox_error``."""

    def __init__(self, settings, *, script=(), counter: str = "", fail_kind: str = "") -> None:
        super().__init__(settings)
        self._script, self._counter, self._fail_kind = list(script), counter, fail_kind

    def run(self, request: SandboxRequest) -> SandboxResult:
        if self._fail_kind and request.spec.get("kind_hint") == self._fail_kind:
            raise RetryableError(Reason.SANDBOX_ERROR, f"injected failure for every {self._fail_kind}")
        if self._script:
            with open(self._counter, "a+") as fh:
                fh.seek(0)
                call = len(fh.read())
                fh.write(".")
            step = self._script[call] if call < len(self._script) else "ok"
            if step in ("sandbox_timeout", "sandbox_oom"):
                raise ResourceExhausted(Reason(step), f"injected {step}")
            if step != "ok":
                raise RetryableError(Reason(step), f"injected {step}")
        return super().run(request)
