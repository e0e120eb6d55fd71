"""The warm slot's bookkeeping, with the engine side replaced at its seam (start/inspect/remove callables):
taken once, unfit ones removed, renewed before their age runs out, all removed at close."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from worker.sandbox import warm as warm_module
from worker.sandbox.warm import WarmSlot


class Engine:
    """Containers by name: what was started, what is running, what was removed."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.removed: list[str] = []
        self.lock = threading.Lock()

    def start(self, template, directory, name):
        with self.lock:
            self.started.append(name)
        return SimpleNamespace(name=name, status="running")

    def inspect(self, name):
        with self.lock:
            return SimpleNamespace(name=name, status="exited" if name in self.removed else "running")

    def remove(self, name, directory):
        with self.lock:
            self.removed.append(name)


def slot(tmp_path, engine: Engine, max_age: float = 300) -> WarmSlot:
    return WarmSlot(str(tmp_path), "owner1", max_age, engine.start, lambda request: (request,), engine.inspect,
                    engine.remove)


def test_a_warm_container_is_taken_once_and_one_with_other_limits_is_removed(tmp_path):
    engine = Engine()
    warm = slot(tmp_path, engine)
    warm.refill("small")
    taken = warm.take("small")
    assert taken is not None and taken.name == engine.started[0]
    assert warm.take("small") is None, "taken once: the slot is empty until refilled"
    warm.refill("small")
    assert warm.take("big") is None
    warm.close()
    assert engine.removed == [engine.started[1]], "the unfit one is removed; the taken one is its job's"
    assert (tmp_path / f"job-owner1-{engine.started[0].rsplit('-', 1)[1]}" / "in").is_dir()


def test_an_idle_warm_container_is_renewed_before_its_age_runs_out(tmp_path, monkeypatch):
    monkeypatch.setattr(warm_module, "AGE_MARGIN_SECONDS", 0.1)
    engine = Engine()
    warm = slot(tmp_path, engine, max_age=0.6)  # renewed every 0.4 s (max_age - 2 margins), never churned
    warm.refill("t")
    time.sleep(1.5)
    taken = warm.take("t")
    warm.close()
    assert 3 <= len(engine.started) <= 5, engine.started
    assert taken is not None and taken.name == engine.started[-1]
    assert sorted(engine.removed) == sorted(engine.started[:-1]), "every renewed one removed"


def test_close_removes_the_waiting_one_and_stops_renewing(tmp_path):
    engine = Engine()
    warm = slot(tmp_path, engine, max_age=300)
    warm.refill("t")
    warm.close()
    assert engine.removed == engine.started and len(engine.started) == 1
    warm.refill("t")  # after close: nothing starts
    assert len(engine.started) == 1
    assert threading.active_count() < 20, "no timer per refill left behind"
