"""Handing a job to a warm sandbox (worker.sandbox.warm keeps them; worker.sandbox.docker runs them): the
input renamed into the waiting container's ``in/``, the spec renamed there last, the program's ``.taken``
confirmation waited for, its ``out/`` renamed to the job's afterwards. An unconfirmed hand-off gives the
input back and the job runs cold; a confirmed one is the container's for good."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from typing import Any

from worker.sandbox.base import EXIT_OK, EXIT_REJECTED, RunExit, SandboxRequest, SandboxResult, interpret
from worker.sandbox.cleanup import SANDBOX_USER, remove_tree
from worker.sandbox.lockdown import owner_labels
from worker.sandbox.warm import LABEL_WARM, Warm, appears

log = logging.getLogger("worker.sandbox.docker")
INPUT_NAME = "input"  # what the job runner names the download (and a warm container expects)
TAKEN_MARKER = ".taken"  # a warm program writes it into /job/out once it has its spec
TAKE_CONFIRM_SECONDS = 5.0  # it takes milliseconds; a warm container silent this long is not running


class WarmHandOff:
    """The warm half of worker.sandbox.docker.DockerSandbox, which provides ``_slot``, ``_settings``, the two
    engine connections, ``container_options``, ``_wait``, ``_remove_by_name``, ``_release`` and
    ``_run_cold``."""

    _slot: Any
    _settings: Any
    _client: Any
    _background_client: Any

    def _run_warm(self, warm: Warm, request: SandboxRequest) -> SandboxResult:
        """Hand the job over: the input renamed into the warm ``in/``, the spec renamed there last (the
        program starts on it), the job's timeout from now; its ``out/`` renamed to the job's afterwards.

        The program confirms with a ``.taken`` marker in ``out/`` within milliseconds; the host waits for it
        at most ``TAKE_CONFIRM_SECONDS``. Unconfirmed (the container died, hangs or its engine went after its
        last inspect), the container is removed, the input given back and the job run cold. Confirmed, the
        job is the container's for good: nothing a compromised program does later (deleting the marker)
        gets it a second run. The warm container is retired whatever happens."""
        started = time.monotonic()
        warm_input = os.path.join(warm.in_dir, INPUT_NAME)
        try:
            os.replace(request.input_path, warm_input)
        except OSError as exc:  # another file system: nothing moved
            log.warning(
                "cannot hand %s to warm sandbox %s (%s): running it cold", request.input_path, warm.name, exc
            )
            self._slot.retire(warm)  # type: ignore[union-attr]
            return self._run_cold(request)
        run: RunExit | None = None
        taken = False
        try:
            os.chmod(warm_input, 0o644)
            pending = os.path.join(warm.in_dir, ".spec.json.part")
            with open(pending, "w", encoding="utf-8") as fh:
                json.dump(request.program_spec(), fh)
            os.chmod(pending, 0o644)
            os.replace(pending, os.path.join(warm.in_dir, "spec.json"))
            taken = appears(os.path.join(warm.out_dir, TAKEN_MARKER), TAKE_CONFIRM_SECONDS)
            if taken:
                run = self._wait(warm.container, request, warm.out_dir)
        finally:
            if run is None or run.exit_code not in (EXIT_OK, EXIT_REJECTED):
                self._remove_by_name(warm.name)  # timed out, failed, lost, never took it: it must stop now
            try:
                if taken:
                    # the run is over (exited, or removed above): the input leaves the tmpfs now, not when the
                    # remover gets to the directory; a marker the program made into something else stays
                    for done in (
                        warm_input,
                        os.path.join(warm.in_dir, "spec.json"),
                        os.path.join(warm.out_dir, TAKEN_MARKER),
                    ):
                        with contextlib.suppress(OSError):
                            os.unlink(done)
                    os.rmdir(request.output_dir)
                    os.replace(warm.out_dir, request.output_dir)
                    self._release(request)
                else:  # no program ever saw the job
                    os.replace(warm_input, request.input_path)
            finally:
                self._slot.retire(warm)  # type: ignore[union-attr] - off the critical path
        if not taken:
            log.warning(
                "warm sandbox %s did not take its job within %.0f s: running it cold",
                warm.name,
                TAKE_CONFIRM_SECONDS,
            )
            return self._run_cold(request)
        return SandboxResult(
            result=interpret(run, request.output_dir), seconds=time.monotonic() - started, start_seconds=0.0
        )

    def _start_warm(self, template: SandboxRequest, directory: str, name: str) -> Any:
        in_dir, out_dir = os.path.join(directory, "in"), os.path.join(directory, "out")
        if os.geteuid() == 0:
            os.chown(out_dir, SANDBOX_USER, SANDBOX_USER)
        else:
            os.chmod(out_dir, 0o777)  # what 65534 closes in there, cleanup.release_outputs opens
        options = self.container_options(template)
        wait = self._settings.sandbox_warm_max_age
        options.update(
            name=name,
            command=[
                "--input",
                f"/job/in/{INPUT_NAME}",
                "--output-dir",
                "/job/out",
                "--spec",
                "/job/in/spec.json",
                "--wait",
                str(wait),
            ],
            volumes={in_dir: {"bind": "/job/in", "mode": "ro"}, out_dir: {"bind": "/job/out", "mode": "rw"}},
            labels={
                **owner_labels(self._settings.work_dir, wait + template.timeout, job=name),
                LABEL_WARM: "1",
            },
        )
        return self._background_client.containers.run(**options)

    def _inspect(self, name: str) -> Any:
        """The container on the job thread's connection (the warm start ran on the background one)."""
        return self._client.containers.get(name)

    def _outdated(self, container: Any) -> str | None:
        """Why a warm container must not run a job although its limits fit: its image is not the one the tag
        names now (rebuilt and tagged again since it started, e.g. for a codec's security fix)."""
        current = self._client.images.get(self._settings.sandbox_image).id
        return (
            None if container.attrs.get("Image") == current else "made from an image its tag no longer names"
        )

    def _remove_warm(self, name: str, directory: str) -> None:
        self._remove_by_name(name, self._background_client)
        remove_tree(directory, self._settings)
