"""Outputs uploaded several at a time (a failure removes what landed and is raised), and the main loop's
inbox, whose put wakes a wait on it at once."""

from __future__ import annotations

import multiprocessing.connection
import threading
import time

import pytest

from worker.child.publish import Publisher
from worker.errors import Reason, RetryableError
from worker.parent.receiver import Inbox


class Store:
    """Records uploads; one key fails (a seam we own: worker.child.storage.Storage's two calls used here)."""

    def __init__(self, failing: str | None = None) -> None:
        self.failing, self.uploaded, self.deleted, self.lock = failing, [], [], threading.Lock()
        self.at_once, self.running = 0, 0

    def upload_file(self, path: str, key: str, content_type: str) -> None:
        with self.lock:
            self.running += 1
            self.at_once = max(self.at_once, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
            if key == self.failing:
                raise RetryableError(Reason.S3_ERROR, f"PUT {key}: 500")
            self.uploaded.append(key)

    def delete_keys(self, keys: list[str]) -> None:
        self.deleted.extend(keys)


OUTPUTS = [{"name": f"o{i}.mp4", "key": f"media/x/a/o{i}.mp4", "content_type": "video/mp4"} for i in range(8)]


def test_outputs_go_up_several_at_a_time():
    store = Store()
    Publisher(store).upload("/out", OUTPUTS)
    assert sorted(store.uploaded) == sorted(o["key"] for o in OUTPUTS) and store.at_once > 1


def test_a_failed_upload_removes_what_landed_and_is_raised():
    store = Store(failing="media/x/a/o1.mp4")
    with pytest.raises(RetryableError, match="o1.mp4"):
        Publisher(store).upload("/out", OUTPUTS)
    assert set(store.uploaded) <= set(store.deleted), "every object that landed is removed again"
    assert "media/x/a/o1.mp4" in store.deleted, "the failed PUT too: it may have landed all the same"


def test_a_put_wakes_the_loop_waiting_on_the_inbox():
    inbox = Inbox()
    assert multiprocessing.connection.wait([inbox], timeout=0.05) == []
    threading.Timer(0.1, inbox.put, (("message", 0.0),)).start()
    started = time.monotonic()
    assert multiprocessing.connection.wait([inbox], timeout=5) == [inbox]
    assert time.monotonic() - started < 4 and inbox.get_nowait() == ("message", 0.0)
    inbox.clear_wakeups()
    assert multiprocessing.connection.wait([inbox], timeout=0.05) == [], "cleared: no busy loop"
