"""The error tree's promises and the retry delay."""

import pytest

from worker.errors import (
    MediaWorkerError,
    PermanentError,
    Reason,
    RejectedInput,
    ResourceExhausted,
    RetryableError,
    ShutdownRequested,
)
from worker.parent.settle import backoff_seconds


def test_tree_shape():
    assert issubclass(RejectedInput, PermanentError) and issubclass(ResourceExhausted, RetryableError)
    assert not issubclass(ShutdownRequested, Exception)
    err = RejectedInput(Reason.TOO_LARGE, "big")
    assert isinstance(err, MediaWorkerError) and err.reason.value == "too_large"


@pytest.mark.parametrize(
    "reason,repeated", [(Reason.SANDBOX_TIMEOUT, "timeout_repeated"), (Reason.SANDBOX_OOM, "memory_repeated")]
)
def test_exhaustion_becomes_permanent_on_repeat(reason, repeated):
    assert ResourceExhausted(reason, "x").permanent().reason.value == repeated


def test_backoff_grows_with_receive_count_and_is_capped():
    first = [backoff_seconds(1, 10, 900) for _ in range(50)]
    third = [backoff_seconds(3, 10, 900) for _ in range(50)]
    assert all(8 <= d <= 10 for d in first) and all(32 <= d <= 40 for d in third)
    assert max(backoff_seconds(30, 10, 900) for _ in range(50)) <= 900
    assert backoff_seconds(5, 0, 0) == 0
