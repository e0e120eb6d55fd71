"""A reason knows whether it is permanent, and the code, the sandbox's mapping and docs/REASONS.md agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from worker.errors import Reason
from worker.sandbox.base import SANDBOX_REJECTIONS

ROOT = Path(__file__).resolve().parents[2]
PERMANENT_CLASSES, RETRYABLE_CLASSES = (
    {"PermanentError", "RejectedInput"},
    {"RetryableError", "ResourceExhausted"},
)


def raised_with_reasons() -> list[tuple[str, str, str]]:
    """(file, error class, reason) of every ``SomeError(Reason.X, …)`` in worker/."""
    found = []
    for path in (ROOT / "worker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.args
                and isinstance(node.args[0], ast.Attribute)
                and getattr(node.args[0].value, "id", "") == "Reason"
            ):
                found.append((str(path.relative_to(ROOT)), node.func.id, node.args[0].attr))
    return found


def test_every_error_is_raised_with_a_reason_of_its_kind():
    calls = raised_with_reasons()
    assert len(calls) > 30
    wrong = [
        (f, cls, r)
        for f, cls, r in calls
        if r != "STATUS_TARGET"  # a status event's, never a job's
        and (
            (cls in PERMANENT_CLASSES and not Reason[r].permanent)
            or (cls in RETRYABLE_CLASSES and Reason[r].permanent)
        )
    ]
    assert not wrong


def test_what_the_sandbox_may_reject_with_is_permanent():
    assert SANDBOX_REJECTIONS and all(Reason(r).permanent for r in SANDBOX_REJECTIONS)


def test_the_documented_split_is_the_codes():
    text = (ROOT / "docs" / "REASONS.md").read_text()
    permanent_paragraph = text[text.index("Permanent (") : text.index("Retryable (")]
    documented = set(re.findall(r"`([a-z_]+)`", permanent_paragraph))
    assert documented == {r.value for r in Reason if r.permanent}
