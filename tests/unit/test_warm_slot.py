"""The warm slot's bookkeeping, with the engine side replaced at its seam (start/inspect/remove callables):
taken once, unfit ones removed, renewed before their age runs out, all removed at close."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from worker import owners
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
    return WarmSlot(
        str(tmp_path),
        "owner1",
        max_age,
        engine.start,
        lambda request: (request,),
        engine.inspect,
        engine.remove,
    )


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


def test_a_warm_container_of_an_image_its_tag_no_longer_names_is_not_used(tmp_path):
    engine = Engine()
    current = {"image": "sha256:old"}
    warm = WarmSlot(
        str(tmp_path),
        "owner1",
        300,
        engine.start,
        lambda request: (request,),
        engine.inspect,
        engine.remove,
        outdated=lambda c: None if current["image"] == "sha256:old" else "retagged",
    )
    warm.refill("t")
    current["image"] = "sha256:new"  # the operator rebuilt and tagged the image again meanwhile
    assert warm.take("t") is None, "the job runs cold, on the image the tag names now"
    warm.close()
    assert engine.removed == engine.started and len(engine.started) == 1


def test_used_containers_never_pile_up_behind_a_slow_remover(tmp_path):
    engine, release = Engine(), threading.Event()
    threads: list[str] = []

    def slow_remove(name, directory):
        threads.append(threading.current_thread().name)
        if threading.current_thread().name.startswith("warm-remove"):
            release.wait(10)  # the engine takes its time over every background removal
        engine.remove(name, directory)

    warm = WarmSlot(
        str(tmp_path), "owner1", 300, engine.start, lambda request: (request,), engine.inspect, slow_remove
    )
    used = []
    for _ in range(warm_module.MAX_PENDING_REMOVALS + 2):
        warm.refill("t")
        used.append(warm.take("t"))
        warm.retire(used[-1])
    inline = [t for t in threads if not t.startswith("warm-remove")]
    assert len(inline) >= 1, f"past the cap the job's thread removes its own: {threads}"
    assert not any(t.startswith("warm-remove") for t in inline)
    release.set()
    warm.close()
    assert sorted(engine.removed) == sorted(u.name for u in used)


def test_a_failed_removal_is_logged_and_the_slot_goes_on(tmp_path, caplog):
    engine = Engine()

    def broken_remove(name, directory):
        raise OSError("the engine went away")

    warm = WarmSlot(
        str(tmp_path), "owner1", 300, engine.start, lambda request: (request,), engine.inspect, broken_remove
    )
    warm.refill("t")
    warm.retire(warm.take("t"))
    warm.refill("t")
    assert warm.take("t") is not None, "the slot still works"
    warm.close()
    assert "could not remove warm sandbox" in caplog.text


def test_a_refill_that_raises_retires_the_container_just_taken(tmp_path):
    """DockerSandbox.run: the job's warm container was taken, then starting the next one failed (the starter
    shut down): the taken one is retired, not leaked, and the error is the job's."""
    from worker.sandbox.docker import DockerSandbox
    from worker.settings import load_settings

    taken, retired = SimpleNamespace(name="media-worker-warm1"), []

    class Slot:
        def take(self, request):
            return taken

        def refill(self, request):
            raise RuntimeError("cannot schedule new futures after shutdown")

        def retire(self, warm):
            retired.append(warm)

    settings = load_settings(
        {"runtime": "docker", "sandbox_warm": False, "work_dir": str(tmp_path)},
        environ={
            "MEDIA_WORKER_QUEUE_URL": "q",
            "MEDIA_WORKER_TEMP_BUCKET": "t",
            "MEDIA_WORKER_PRODUCTION_BUCKET": "p",
        },
    )
    sandbox = DockerSandbox(settings, client=SimpleNamespace())
    sandbox._slot = Slot()
    try:
        with pytest.raises(RuntimeError, match="after shutdown"):
            sandbox.run(SimpleNamespace(job_id="j"))
    finally:
        owners.release(str(tmp_path))
    assert retired == [taken]
