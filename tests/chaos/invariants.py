"""What must hold after any chaos run, whatever was injected — per upload *version* (keys are overwritten).

1. Every version ends in exactly one terminal state: one manifest, or one rejection record, or (neither
   being there) its event in the DLQ with a reason (a ``dead_lettered`` status event or a worker's log
   line) — and the state it should: good files published, hostile ones rejected; an older version may
   instead be rejected ``source_superseded`` (a newer upload replaced it before it was read). A DLQ copy
   of a message whose version *is* published or rejected is counted (``stale_dlq_copies``), not a loss.
2. No newer upload is ever deleted or recorded ``source_gone``: every key's newest version that is not
   published is still in the temp bucket, and no version is rejected ``source_gone``.
3. Every manifest matches its objects byte for byte (size and sha256 of each), and nothing else is stored
   under its version's prefix once the run is over.
4. One ``published`` event id per published version (deliveries may repeat it; consumers dedupe by id).
5. No orphan sandbox containers, no leftover job directories.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from typing import Any

from worker.child.keys import MANIFEST_NAME, MEDIA_PREFIX, REJECTED_PREFIX, source_id
from worker.errors import PoisonMessage
from worker.ops.dlq import inspect
from worker.s3events.parse import parse_body


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _dlq_ids(sqs: Any, res: Any) -> list[str]:
    """Source ids named by the DLQ's messages."""
    ids = []
    for letter in inspect(sqs, res.dlq_url, res.temp_bucket, limit=1000):
        try:
            parsed = parse_body(letter.body, res.temp_bucket)
        except PoisonMessage:
            continue
        ids += [source_id(record) for record in parsed.records]
    return ids


def terminal_states(s3: Any, sqs: Any, res: Any, versions: list) -> dict[str, list[str]]:
    """source id → the terminal records found for it (``manifest``, ``rejected``, ``dlq``)."""
    states: dict[str, list[str]] = defaultdict(list)
    for key in _keys(s3, res.production_bucket, MEDIA_PREFIX):
        if key.endswith("/" + MANIFEST_NAME):
            states[key[len(MEDIA_PREFIX) :].split("/", 1)[0]].append("manifest")
    for key in _keys(s3, res.production_bucket, REJECTED_PREFIX):
        states[key[len(REJECTED_PREFIX) :].removesuffix(".json")].append("rejected")
    for sid in _dlq_ids(sqs, res):
        states[sid].append("dlq")
    return states


def check_invariants(
    s3: Any,
    sqs: Any,
    res: Any,
    uploads: Any,
    docker: Any,
    work_dir: str,
    events_url: str,
    log_paths: list[str],
    parents: list[int],
) -> tuple[dict[str, int], list[str]]:
    """(outcome counts, violations): an empty list means every invariant held."""
    violations: list[str] = []
    versions = uploads.all()
    latest = {v.key: v for v in versions}
    states = terminal_states(s3, sqs, res, versions)
    events = _events(sqs, events_url)
    reasons = _dead_letter_reasons(events, log_paths)
    stored: dict[str, set[str]] = defaultdict(
        set
    )  # one listing, grouped: moto scans the bucket per list call
    for object_key in _keys(s3, res.production_bucket, MEDIA_PREFIX):
        stored[object_key[len(MEDIA_PREFIX) :].split("/", 1)[0]].add(object_key)
    published_ids: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.get("type") == "published":
            published_ids[event.get("source_id") or "?"].add(event["event_id"])
    outcomes: Counter[str] = Counter()
    for v in versions:
        sid, where = v.source_id, f"{v.key} ({v.etag[:8]})"
        found = states.get(sid, [])
        records = [f for f in found if f != "dlq"]
        if len(records) > 1 or (not records and "dlq" not in found):
            violations.append(f"{where}: terminal states {found or 'none'} (exactly one expected)")
            continue
        if not records:
            outcomes["dead_lettered"] += 1
            outcomes[f"dead_lettered_{reasons.get(sid, 'unrecorded')}"] += 1  # why: to tell faults from bugs
            if sid not in reasons:
                violations.append(f"{where}: in the DLQ without a recorded reason")
            continue
        if "dlq" in found:
            outcomes["stale_dlq_copies"] += (
                1  # settled; a copy of its message reached the DLQ (redrive: no-op)
            )
        if records[0] == "manifest":
            outcomes["published"] += 1
            if v.expected != "published":
                violations.append(f"{where}: expected {v.expected}, got published")
            violations += _matches_manifest(s3, res.production_bucket, where, sid, stored.get(sid, set()))
            if len(published_ids.get(sid, ())) > 1:
                violations.append(f"{where}: {len(published_ids[sid])} published event ids (one expected)")
            if not published_ids.get(sid):
                outcomes["published_unannounced"] += 1
            continue
        reason = _rejection_reason(s3, res.production_bucket, sid)
        outcomes["rejected"] += 1
        if reason == "source_superseded" and v is not latest[v.key]:
            outcomes["superseded"] += 1
        elif reason == "source_gone":
            violations.append(f"{where}: recorded source_gone, yet nothing but the worker deletes uploads")
        elif v.expected != "rejected":
            violations.append(f"{where}: expected {v.expected}, got rejected ({reason})")
    for v in latest.values():
        if "manifest" not in states.get(v.source_id, []) and not _still_there(s3, v):
            violations.append(
                f"{v.key} ({v.etag[:8]}): the newest upload is gone from the temp bucket unpublished"
            )
    outcomes["overwritten_keys"] = len(versions) - len(latest)
    leftover = [
        c.name
        for c in docker.containers.list(all=True, filters={"label": "media-worker.job"})
        if c.labels.get("media-worker.parent") in {str(pid) for pid in parents}
    ]
    if leftover:
        violations.append(f"orphan sandbox containers: {leftover}")
    dirs = [d for d in os.listdir(work_dir) if d.startswith("job-")]
    if dirs:
        violations.append(f"leftover job directories: {dirs}")
    return dict(outcomes), violations


def _matches_manifest(s3: Any, bucket: str, where: str, sid: str, stored: set[str]) -> list[str]:
    """Every object the manifest names has its recorded size and sha256; nothing else is under the prefix."""
    prefix = f"{MEDIA_PREFIX}{sid}/"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix + MANIFEST_NAME)["Body"].read())
    problems = []
    for out in manifest["outputs"]:
        try:
            body = s3.get_object(Bucket=bucket, Key=out["key"])["Body"].read()
        except s3.exceptions.NoSuchKey:
            problems.append(f"{where}: the manifest names {out['key']}, which is not there")
            continue
        if (len(body), hashlib.sha256(body).hexdigest()) != (out["size"], out["sha256"]):
            problems.append(f"{where}: {out['key']} differs from its manifest entry")
    extra = stored - {o["key"] for o in manifest["outputs"]} - {prefix + MANIFEST_NAME}
    if extra:
        problems.append(f"{where}: {len(extra)} objects under its prefix that the manifest does not name")
    return problems


def _rejection_reason(s3: Any, bucket: str, sid: str) -> str:
    return json.loads(s3.get_object(Bucket=bucket, Key=f"{REJECTED_PREFIX}{sid}.json")["Body"].read())[
        "reason"
    ]


def _still_there(s3: Any, v: Any) -> bool:
    try:
        s3.head_object(Bucket=v.bucket, Key=v.key, IfMatch=f'"{v.etag}"')
        return True
    except s3.exceptions.ClientError:
        return False


def _events(sqs: Any, events_url: str) -> list[dict[str, Any]]:
    """Every status event sent during the run (taken off their queue)."""
    events = []
    while True:
        messages = sqs.receive_message(QueueUrl=events_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return events
        for m in messages:
            events.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=events_url, ReceiptHandle=m["ReceiptHandle"])


def _dead_letter_reasons(events: list[dict[str, Any]], log_paths: list[str]) -> dict[str, str]:
    """source id → why its message left for the DLQ (status events first, the workers' logs as backup)."""
    reasons = {
        e["source_id"]: e.get("reason") or "?"
        for e in events
        if e.get("type") == "dead_lettered" and e.get("source_id")
    }
    last_retry: dict[str, str] = {}
    dispatched: set[str] = set()
    for path in log_paths:
        with open(path, errors="replace") as fh:
            for line in fh:
                if not line.startswith("{"):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a SIGKILL
                if "leaves for the DLQ" in record.get("message", ""):
                    for sid in record.get("source_ids", []):
                        reasons.setdefault(sid, record["message"])
                sid = record.get("source_id")
                if not sid:
                    continue
                if record.get("outcome") == "retry":
                    last_retry[sid] = record.get("reason") or "?"
                elif record.get("message", "").startswith("job "):
                    dispatched.add(sid)
    # A message whose last receives all died with their parent reaches the DLQ unseen: the workers' own
    # record of it is its last retry reason, or that it was dispatched and never came back.
    for sid in dispatched:
        reasons.setdefault(sid, last_retry.get(sid) or "dispatched; its parent was killed before it ended")
    for sid, reason in last_retry.items():
        reasons.setdefault(sid, reason)
    return reasons
