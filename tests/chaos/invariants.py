"""What must hold after any chaos run, whatever was injected.

1. Every upload ends in exactly one terminal state: one manifest, or one rejection record, or (neither
   being there) its event in the DLQ with a reason (a ``dead_lettered`` status event or the worker's log
   line) — and the state it should: good files published, hostile ones rejected. A DLQ copy of a message
   whose upload *is* published or rejected is counted (``stale_dlq_copies``), not a loss.
2. No duplicate output sets: one source id per upload, and exactly the manifest's outputs under it.
3. No orphan sandbox containers, no leftover job directories.
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from typing import Any

from worker.dlq import inspect
from worker.keys import MEDIA_PREFIX, REJECTED_PREFIX, safe_key


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def terminal_states(s3: Any, sqs: Any, res: Any, corpus: dict) -> dict[str, list[str]]:
    """upload key → the terminal records found for it (``manifest:<id>``, ``rejected:<id>``, ``dlq``)."""
    by_safe = {safe_key(key): key for key in corpus}
    states: dict[str, list[str]] = defaultdict(list)
    for key in _keys(s3, res.production_bucket, MEDIA_PREFIX):
        head, _, name = key.rpartition("/")
        if name == "manifest.json":
            safe, _, sid = head[len(MEDIA_PREFIX):].rpartition("/")
            if safe in by_safe:
                states[by_safe[safe]].append(f"manifest:{sid}")
    for key in _keys(s3, res.production_bucket, REJECTED_PREFIX):
        safe, _, name = key[len(REJECTED_PREFIX):].rpartition("/")
        if safe in by_safe:
            states[by_safe[safe]].append(f"rejected:{name[:-5]}")
    for letter in inspect(sqs, res.dlq_url, res.temp_bucket, limit=1000):
        for key in letter.keys:
            if key in corpus:
                states[key].append("dlq")
    return states


def check_invariants(s3: Any, sqs: Any, res: Any, corpus: dict, docker: Any, work_dir: str, events_url: str,
                     log_path: str, parents: list[int]) -> tuple[dict[str, int], list[str]]:
    """(outcome counts, violations): an empty list means every invariant held."""
    violations: list[str] = []
    states = terminal_states(s3, sqs, res, corpus)
    reasons = _dead_letter_reasons(sqs, events_url, log_path)
    outcomes: Counter[str] = Counter()
    stored: dict[str, set[str]] = defaultdict(set)  # one listing, grouped: moto scans the bucket per list call
    for object_key in _keys(s3, res.production_bucket, MEDIA_PREFIX):
        stored[object_key[len(MEDIA_PREFIX):].rsplit("/", 2)[0]].add(object_key)
    for key, (_, expected) in corpus.items():
        found = states.get(key, [])
        records = [f for f in found if f != "dlq"]
        kinds = {f.split(":")[0] for f in records} or ({"dlq"} if "dlq" in found else set())
        if len(kinds) != 1:
            violations.append(f"{key}: terminal states {found or 'none'} (exactly one expected)")
            continue
        kind = kinds.pop()
        if kind != "dlq" and "dlq" in found:
            # Settled, yet a copy of its message reached the DLQ: the worker died between publishing and
            # deleting on the message's last allowed receive. Redriving it is a no-op (a duplicate).
            outcomes["stale_dlq_copies"] += 1
            found = records
        if kind == "dlq":
            outcomes["dead_lettered"] += 1
            if key not in reasons:
                violations.append(f"{key}: in the DLQ without a recorded reason")
            continue
        ids = {f.split(":")[1] for f in found}
        if len(ids) != 1 or len(found) != 1:
            violations.append(f"{key}: {len(found)} {kind} records for {len(ids)} source ids")
        outcomes["published" if kind == "manifest" else "rejected"] += 1
        if (kind == "manifest") != (expected == "published"):
            violations.append(f"{key}: expected {expected}, got {kind}")
        if kind == "manifest":
            violations += _one_output_set(s3, res.production_bucket, key, ids.pop(), stored[safe_key(key)])
    leftover = [c.name for c in docker.containers.list(all=True, filters={"label": "media-worker.job"})
                if c.labels.get("media-worker.parent") in {str(pid) for pid in parents}]
    if leftover:
        violations.append(f"orphan sandbox containers: {leftover}")
    dirs = [d for d in os.listdir(work_dir) if d.startswith("job-")]
    if dirs:
        violations.append(f"leftover job directories: {dirs}")
    return dict(outcomes), violations


def _one_output_set(s3: Any, bucket: str, key: str, sid: str, stored: set[str]) -> list[str]:
    prefix = f"{MEDIA_PREFIX}{safe_key(key)}/"
    sets = {k[len(prefix):].split("/", 1)[0] for k in stored}
    if sets != {sid}:
        return [f"{key}: output sets {sorted(sets)} (one expected)"]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}{sid}/manifest.json")["Body"].read())
    listed = {o["key"] for o in manifest["outputs"]} | {f"{prefix}{sid}/manifest.json"}
    return [] if listed == stored else [f"{key}: stored {sorted(stored - listed)} beyond / missing "
                                        f"{sorted(listed - stored)} against its manifest"]


def _dead_letter_reasons(sqs: Any, events_url: str, log_path: str) -> dict[str, str]:
    """upload key → why its message left for the DLQ (status events first, the worker's log as backup)."""
    reasons: dict[str, str] = {}
    while True:
        messages = sqs.receive_message(QueueUrl=events_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for m in messages:
            event = json.loads(m["Body"])
            if event.get("type") == "dead_lettered" and event.get("source"):
                reasons[event["source"]["key"]] = event.get("reason") or "?"
            sqs.delete_message(QueueUrl=events_url, ReceiptHandle=m["ReceiptHandle"])
    last_retry: dict[str, str] = {}
    dispatched: set[str] = set()
    with open(log_path, errors="replace") as fh:
        for line in fh:
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a SIGKILL
            if "leaves for the DLQ" in record.get("message", ""):
                for key in record.get("keys", []):
                    reasons.setdefault(key, record["message"])
            elif record.get("key") and record.get("outcome") == "retry":
                last_retry[record["key"]] = record.get("reason") or "?"
            elif record.get("key") and record.get("message", "").startswith("job "):
                dispatched.add(record["key"])
    # A message whose last receives all died with their parent reaches the DLQ unseen: the worker's own
    # record of it is its last retry reason, or that it was dispatched and never came back.
    for key in dispatched:
        reasons.setdefault(key, last_retry.get(key) or "dispatched; its parent was killed before it ended")
    for key, reason in last_retry.items():
        reasons.setdefault(key, reason)
    return reasons
