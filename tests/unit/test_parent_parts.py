"""Parts of the parent that keep it alive and its leases kept (issue 14), one at a time."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time

import boto3
from botocore.stub import Stubber

from worker.errors import Reason
from worker.parent.metrics import Metrics
from worker.parent.observer import Observer
from worker.parent.pool import Pool
from worker.parent.receiver import Receiver
from worker.parent.sqs import Message, Queue
from worker.s3events.parse import parse_body
from worker.settings import Settings, load_settings

ENV = {
    "MEDIA_WORKER_QUEUE_URL": "q",
    "MEDIA_WORKER_TEMP_BUCKET": "temp",
    "MEDIA_WORKER_PRODUCTION_BUCKET": "p",
}


def record(bucket="temp", key="a.mp4"):
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
    }


def test_one_bad_record_does_not_poison_the_good_ones():
    parsed = parse_body(
        json.dumps({"Records": [record(key="good.mp4"), record(bucket="theirs"), {"junk": 1}]}), "temp"
    )
    assert [r.key for r in parsed.records] == ["good.mp4"]
    assert [(b.index, b.reason) for b in parsed.bad] == [
        (1, Reason.FOREIGN_BUCKET),
        (2, Reason.MALFORMED_MESSAGE),
    ]
    assert json.loads(parsed.bad[0].raw)["s3"]["bucket"]["name"] == "theirs"


def test_extensions_failed_on_sqs_side_are_retried_not_lost():
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response(
        "change_message_visibility_batch",
        {
            "Successful": [{"Id": "0"}],
            "Failed": [
                {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"},
                {"Id": "2", "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": "gone"},
            ],
        },
    )
    messages = [Message(f"m{i}", f"r{i}", "{}", 1) for i in range(3)]
    with stub:
        answer = Queue(client, "https://q").extend((m, 30) for m in messages)
    assert answer == {"m0": True, "m2": False}  # m1: absent, so the next heartbeat tries it again


def _dies_at_start(_arg):
    raise SystemExit(3)


def test_a_child_that_could_not_be_started_is_started_again_later():
    pool = Pool(1, _dies_at_start, None)
    calls = []

    def failing_spawn():
        calls.append(1)
        raise OSError(24, "Too many open files")

    pool._spawn = failing_spawn
    pool.start()
    assert pool.live == 0 and len(pool._respawn_at) == 1  # the slot is kept, to be filled in a second
    pool.close()


def test_children_that_die_at_start_up_are_respawned_after_a_growing_pause():
    pool = Pool(1, _dies_at_start, None)
    pool.start()
    started = time.monotonic()
    while time.monotonic() - started < 4:
        pool.wait(0.1)
    deaths = pool.deaths
    pool.close()
    # 0.5 + 1 + 2 s of pauses: at most about four starts in four seconds, not hundreds
    assert 2 <= deaths <= 5, deaths


class _OneBatchQueue:
    """The Queue seam: one receive that returns while the stop begins."""

    def __init__(self, stop):
        self.stop, self.released = stop, []

    def receive(self, count, wait, visibility):
        self.stop.set()
        return [Message("late-1", "h1", "{}", 1), Message("late-2", "h2", "{}", 1)]

    def set_visibility(self, message, seconds):
        self.released.append((message.message_id, seconds))
        return True


def test_messages_a_long_poll_returns_after_the_stop_go_to_the_drain_or_are_released_once_it_is_over():
    for closed in (False, True):
        stop = threading.Event()
        fake = _OneBatchQueue(stop)
        inbox: queue.Queue = queue.Queue()
        receiver = Receiver(
            fake,
            load_settings({}, environ=ENV),
            Observer(Metrics()),
            inbox,
            lambda: 2,
            lambda n: None,
            lambda: None,
        )
        if closed:
            receiver.closed.set()  # the main loop has ended: nobody would settle them
        receiver.start(stop).thread.join(5)
        if closed:
            assert fake.released == [("late-1", 0), ("late-2", 0)] and inbox.empty()
        else:  # the draining main loop releases them, or re-sends them on their last allowed receive
            assert fake.released == [] and [inbox.get()[0].message_id for _ in range(2)] == [
                "late-1",
                "late-2",
            ]


def test_while_the_runtime_is_not_ready_the_receiver_takes_nothing():
    stop = threading.Event()
    calls = []

    class Never:
        def receive(self, *args):
            calls.append(args)
            return []

    observer = Observer(Metrics())
    metrics, stats = observer.metrics, observer.totals
    receiver = Receiver(
        Never(),
        load_settings({}, environ=ENV),
        observer,
        queue.Queue(),
        lambda: 2,
        lambda n: None,
        lambda: "the engine does not answer",
    ).start(stop)
    time.sleep(0.5)
    stop.set()
    receiver.thread.join(10)
    assert calls == [] and receiver.holding_off == "the engine does not answer" and stats["held_off"] >= 1
    assert metrics.registry.get_sample_value("media_worker_receiving") == 0


def test_every_setting_is_a_run_flag_and_the_top_help_shows_how_to_run():
    top = subprocess.run(
        [sys.executable, "-m", "worker", "--help"], capture_output=True, text=True, check=True
    ).stdout
    run = subprocess.run(
        [sys.executable, "-m", "worker", "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "python -m worker [run] --pool" in top and "--pool INTEGER" in top
    missing = [
        Settings.flag_name(name) for name, *_ in Settings.options() if Settings.flag_name(name) not in run
    ]
    assert not missing, missing
    assert "[MEDIA_WORKER_POOL]" in run


def test_a_flag_sets_its_setting(tmp_path):
    """Flags reach the one settings object (here the validation error names the flag's value)."""
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "run", "--job-deadline", "-5", "--metrics-port", "0"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **ENV},
        timeout=60,
    )
    assert (
        proc.returncode == 2
        and "MEDIA_WORKER_JOB_DEADLINE (--job-deadline) must be >= 0, got -5" in proc.stderr
    )


def test_a_redelivery_while_its_settle_is_under_way_waits_for_it_and_shares_no_lease():
    from worker.parent.leases import LeaseBook
    from worker.parent.settle import InFlight, SettleThread

    release = threading.Event()

    class SlowSettler:
        def settle(self, flight, retire):
            release.wait(5)  # a DeleteMessage that takes its time
            retire()

    class NoExtensions:
        def extend(self, entries):
            return {}

    book = LeaseBook(NoExtensions(), 30)
    old, new = Message("m", "old-receipt", "{}", 1), Message("m", "new-receipt", "{}", 2)
    book.add(old, time.monotonic())
    requeued, done = [], []
    settles = SettleThread(SlowSettler(), book, requeued.append, lambda: done.append(1))
    settles.submit(InFlight(old))
    assert settles.hold(new, 1.0) and not settles.hold(Message("other", "r", "{}", 1), 1.0)
    settles.finish()
    assert requeued == [] and done == []  # still settling: the redelivery waits
    release.set()
    deadline = time.monotonic() + 5
    while not done and time.monotonic() < deadline:
        settles.finish()
        time.sleep(0.01)
    assert done == [1] and requeued == [(new, 1.0)] and len(book) == 0
    settles.close(hurry=False)


def test_an_extension_that_met_an_error_is_tried_again_a_second_later_not_every_tick():
    from worker.parent.leases import RETRY_SECONDS, LeaseBook

    now = [100.0]
    calls = []

    class Failing:
        def extend(self, entries):
            calls.append([m.message_id for m, _ in entries])
            return {}  # no answer for it: a transport error, or SQS's own failure

    book = LeaseBook(Failing(), 10, clock=lambda: now[0])
    book.add(Message("m", "r", "{}", 1), 95.0)  # half of its 10 s is gone: due
    book.heartbeat()
    now[0] += 0.1
    book.heartbeat()  # the next tick: not asked again yet
    assert calls == [["m"]]
    now[0] += RETRY_SECONDS
    book.heartbeat()
    assert calls == [["m"], ["m"]] and book.failed_extensions == 0  # still tried, never given up on
