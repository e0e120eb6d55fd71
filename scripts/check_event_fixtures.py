"""Run S3 event bodies captured by other projects through worker.s3events.parse.parse_body and compare each with
what a correct parser returns (an EXPECTED.json beside them), e.g.::

    python scripts/check_event_fixtures.py ../shared/fixtures/s3events

EXPECTED.json maps each file name to {"temp_bucket", "expect": records|ignored|test_event|refuse, "ignored":
n, "records": [{bucket, key, size, etag, version_id, event_name}]}. Exit 1 when any file disagrees.
"""

from __future__ import annotations

import json
import pathlib
import sys

from worker.errors import PoisonMessage
from worker.s3events.parse import parse_body

FIELDS = ("bucket", "key", "size", "etag", "version_id", "event_name")


def verdict(body: str, want: dict) -> str:
    """'' when the parse matches ``want``, else what differs."""
    try:
        parsed = parse_body(body, want["temp_bucket"])
    except PoisonMessage as exc:
        return "" if want["expect"] == "refuse" else f"refused: {exc}"
    if want["expect"] == "refuse":
        return f"accepted: {parsed}"
    if parsed.test_event != (want["expect"] == "test_event"):
        return f"test_event={parsed.test_event}"
    if len(parsed.ignored) != want["ignored"]:
        return f"ignored {len(parsed.ignored)}, want {want['ignored']}"
    got = [{name: getattr(r, name) for name in FIELDS} for r in parsed.records]
    wanted = [{name: r.get(name) for name in FIELDS} for r in want["records"]]
    return "" if got == wanted else f"records {got} != {wanted}"


def main(folder: str) -> int:
    root = pathlib.Path(folder)
    expected = json.loads((root / "EXPECTED.json").read_text())
    failures = 0
    for name, want in sorted(expected.items()):
        problem = verdict((root / name).read_text(), want)
        failures += bool(problem)
        print(f"{'FAIL' if problem else 'ok  '} {name} {problem}")
    print(f"{len(expected) - failures}/{len(expected)} as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "../shared/fixtures/s3events"))
