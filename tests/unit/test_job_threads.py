"""A job's side threads and its order of work, with S3 replaced at our own seam (worker.child.storage's
methods): the upload and check threads log with the job's fields, and a key we would never take costs no
request before its rejection's own."""

from __future__ import annotations

import threading

from worker import logs
from worker.child.endings import Endings
from worker.child.job import Job, JobRunner
from worker.child.outcome import Status
from worker.child.publish import Publisher
from worker.s3events.records import SourceRecord
from worker.settings import load_settings

ENV = {"MEDIA_WORKER_QUEUE_URL": "q", "MEDIA_WORKER_TEMP_BUCKET": "t", "MEDIA_WORKER_PRODUCTION_BUCKET": "p"}


class RecordingStorage:
    """Answers as an empty production bucket would; records each call, its thread and the job fields seen."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self._lock = threading.Lock()

    def _note(self, name: str) -> None:
        with self._lock:
            self.calls.append((name, threading.current_thread().name, dict(logs._job.get())))

    def exists(self, key):
        self._note("exists")
        return False

    def read_json(self, key):
        self._note("read_json")
        return None

    def create_json(self, key, doc):
        self._note("create_json")
        return True

    def upload_file(self, path, key, content_type):
        self._note("upload_file")

    def delete_keys(self, keys):
        self._note("delete_keys")


def record(key: str = "in/clip.mp4") -> SourceRecord:
    return SourceRecord("t", key, None, "e1", None, "ObjectCreated:Put")


def test_the_upload_and_check_threads_log_with_the_jobs_fields(tmp_path):
    store = RecordingStorage()
    job = Job("job1", "msg1", 1, record())
    outputs = [{"name": f"o{i}", "key": f"media/x/o{i}", "content_type": "video/mp4"} for i in range(6)]
    with logs.job_context(job_id="job1", message_id="msg1"):
        Publisher(store).upload(str(tmp_path), outputs)
        assert Endings(load_settings({}, environ=ENV), store, Publisher(store)).already_done(job, {}) is None
    side = [
        (name, fields) for name, thread, fields in store.calls if thread != threading.current_thread().name
    ]
    assert len(side) == 8, store.calls  # six uploads and two checks, all on threads of their own
    assert all(fields.get("job_id") == "job1" and fields.get("message_id") == "msg1" for _, fields in side)


def test_a_key_we_never_take_is_rejected_before_any_other_request(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    settings = load_settings({"work_dir": str(tmp_path), "runtime": "process"}, environ=ENV)
    runner = JobRunner(settings)
    store = RecordingStorage()
    runner._storage, runner._ends = store, Endings(settings, store, Publisher(store))
    outcome = runner(Job("job1", "msg1", 1, record("in/bad\nkey.mp4")))
    runner.close()
    assert (outcome.status, outcome.reason) == (Status.REJECTED, "bad_key")
    # only the rejection's own: is it settled already (2), write it, then is a manifest there after all
    assert [name for name, _, _ in store.calls] == ["exists", "read_json", "create_json", "exists"]
