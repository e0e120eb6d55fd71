"""``python -m container --input F --output-dir D --spec S [--wait SECONDS]``: transcode one file, write
``result.json``.

With ``--wait`` the program is a *warm* sandbox: started (interpreter up, PyAV and FFmpeg loaded) before its
job exists, it waits for the spec to appear — the host writes the input first, then the spec, by a rename —
and then runs that one job, exactly as a cold start would, and exits. Handed nothing within ``SECONDS`` it
exits with ``EXIT_IDLE`` having read nothing.

The exit code tells the host what happened (see ``container.errors``);
``result.json`` in the output directory says it in words and carries the probe
and the verified outputs.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
import traceback
from typing import Any

import av

from container import __version__
from container.audio import transcode_audio
from container.errors import (
    EXIT_IDLE,
    EXIT_INTERNAL,
    EXIT_NO_MEMORY,
    EXIT_OK,
    EXIT_REJECTED,
    OutputCheckFailed,
    Rejected,
)
from container.image import transcode_image
from container.probe import probe_input
from container.sniff import sniff_file
from container.spec import JobSpec
from container.verify import verify_outputs
from container.video import transcode_video

RESULT_NAME = "result.json"
TAKEN_MARKER = ".taken"
WAIT_POLL_SECONDS = 0.005  # a stat of the spec's path: what a hand-off waits for at most, beyond the rename


def run(input_path: str, out_dir: str, spec: JobSpec) -> dict[str, Any]:
    """Sniff, probe, transcode by media kind, verify; return the success result."""
    started = time.monotonic()
    media = sniff_file(input_path)
    probe = probe_input(input_path, media, spec.limits)
    probed = time.monotonic()
    transcode = {"video": transcode_video, "audio": transcode_audio, "image": transcode_image}[probe.kind]
    planned, decoded = transcode(input_path, probe, out_dir, spec)
    transcoded = time.monotonic()
    outputs = verify_outputs(out_dir, planned, probe, decoded)
    return {
        "status": "ok",
        "kind": probe.kind,
        "sniffed": media.to_dict(),
        "probe": probe.to_dict(),
        "decoded_duration": decoded.seconds if decoded else None,
        # segments are listed by their playlists (the host reads them there): a 4 h source with 1 s segments
        # would otherwise put 43 200 entries in this file
        "outputs": [item for item in outputs if item["kind"] != "hls_segment"],
        "versions": {"container": __version__, "pyav": av.__version__, "ffmpeg": av.ffmpeg_version_info},
        "timings": {
            "probe": probed - started,
            "transcode": transcoded - probed,
            "verify": time.monotonic() - transcoded,
        },
    }


def _largest_output(out_dir: str) -> tuple[str, int]:
    sizes = [(entry.stat().st_size, entry.name) for entry in os.scandir(out_dir) if entry.is_file()]
    size, name = max(sizes, default=(0, "an output"))
    return name, size


def _write_result(out_dir: str, result: dict[str, Any]) -> None:
    if "message" in result:  # the host's schema bounds it (worker/sandbox/result_schema.py)
        result["message"] = str(result["message"])[:2000]
    tmp = os.path.join(out_dir, RESULT_NAME + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, os.path.join(out_dir, RESULT_NAME))


def _wait_for(path: str, seconds: float) -> bool:
    """True once ``path`` exists; False after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(WAIT_POLL_SECONDS)
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m container", description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--spec", required=True, help="path of the job spec JSON")
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for the spec (a warm sandbox)"
    )
    args = parser.parse_args(argv)
    if args.wait:
        if not _wait_for(args.spec, args.wait):
            return EXIT_IDLE
        # the host's proof that this job reached a program (a warm one that died unseen is run cold)
        with open(os.path.join(args.output_dir, TAKEN_MARKER), "w", encoding="utf-8"):
            pass
    with open(args.spec, encoding="utf-8") as fh:
        spec = JobSpec.from_json(fh.read())
    try:
        result, code = run(args.input, args.output_dir, spec), EXIT_OK
    except Rejected as exc:
        result, code = {"status": "rejected", "reason": exc.reason, "message": exc.message}, EXIT_REJECTED
    except (MemoryError, av.error.MemoryError, av.error.ExternalError) as exc:
        # Under an address-space limit FFmpeg reports ENOMEM or "generic external error".
        result, code = {"status": "error", "reason": "out_of_memory", "message": repr(exc)}, EXIT_NO_MEMORY
    except OutputCheckFailed as exc:
        result, code = (
            {"status": "error", "reason": "output_check_failed", "message": str(exc)},
            EXIT_INTERNAL,
        )
    except Exception as exc:  # noqa: BLE001 - the host needs a result whatever broke
        if isinstance(exc, OSError) and exc.errno == errno.EFBIG:  # the file-size rlimit, above our own cap
            name, size = _largest_output(args.output_dir)
            result, code = (
                {
                    "status": "rejected",
                    "reason": "over_limit",
                    "message": f"{name} reached the output file-size limit at {size} bytes",
                },
                EXIT_REJECTED,
            )
        else:
            traceback.print_exc()
            result, code = (
                {"status": "error", "reason": "internal_error", "message": repr(exc)},
                EXIT_INTERNAL,
            )
    _write_result(args.output_dir, result)
    return code


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # result.json is written and renamed, every output closed: the interpreter's teardown (finalizers of
    # PyAV's and numpy's objects) would only delay the exit the host waits for
    os._exit(status)
