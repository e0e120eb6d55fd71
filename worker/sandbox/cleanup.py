"""Removing what a sandbox wrote, whether the worker runs as root or not.

As root, ``rmtree`` removes anything. Not as root (the systemd unit), ``out/`` is mode 0777 and user 65534
owns what it makes there: a directory it chmods 0700 can be neither listed nor emptied by us, and would
stay on RAM-backed ``/dev/shm`` for good. Only 65534 (or root) can open it up again, so a short container
of the sandbox image runs as 65534 (no network, read-only root, no capabilities) with each of our
directories that holds such a thing bind-mounted, and either opens its directories (``release``: the
outputs are still to be read) or deletes them (``purge``). We remove the rest ourselves.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from typing import Any

from worker.settings import Settings

log = logging.getLogger(__name__)
SANDBOX_USER = 65534
FIXER_TIMEOUT = 60
FIXER_PIDS = 16  # one Python process on runc; callers pass the jobs' limit (fixer_runtime)
_MOUNTS_PER_RUN = 16

# Runs inside the container as 65534: chmod what it owns, never through a symlink; purge deletes it too.
_FIXER = r"""
import os, shutil, sys
purge = sys.argv[1] == "purge"
def opened(path):
    try:
        if not os.path.islink(path):
            os.chmod(path, 0o777)
    except OSError:
        pass
for top in sys.argv[2:]:
    for name in os.listdir(top):
        path = os.path.join(top, name)
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        opened(path)
        for root, dirs, _ in os.walk(path):
            for d in dirs:
                opened(os.path.join(root, d))
        if purge:
            shutil.rmtree(path, ignore_errors=True)
"""


def survey(path: str) -> tuple[list[str], bool]:
    """Our directories under ``path`` (itself included) that directly hold a directory of another user, and
    whether anything below is closed to us (a directory we cannot list, enter or write)."""
    me, hosts, closed = os.geteuid(), [], False
    stack = [(path, True)]
    while stack:
        directory, ours = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            closed = True
            continue
        holds = False
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                mine = entry.stat(follow_symlinks=False).st_uid == me
            except OSError:
                continue
            holds = holds or (ours and not mine)
            if not os.access(entry.path, os.R_OK | os.W_OK | os.X_OK):
                try:
                    if not mine:
                        raise PermissionError(entry.path)
                    os.chmod(entry.path, 0o700)  # ours: we may always open it
                except OSError:
                    closed = True
                    continue
            stack.append((entry.path, mine))
        if holds:
            hosts.append(directory)
    return hosts, closed


def fixer_runtime(settings: Settings) -> dict[str, Any]:
    """The jobs' OCI runtime for the fixer (it walks what a hostile job made), and the jobs' pids limit: under
    gVisor (whatever name the engine registered it by) the sentry's and gofer's threads count against it."""
    return {"runtime": settings.sandbox_oci_runtime, "pids_limit": settings.sandbox_pids_limit}


def open_up(
    client: Any,
    image: str,
    hosts: list[str],
    *,
    purge: bool,
    labels: dict[str, str],
    runtime: str = "",
    pids_limit: int = FIXER_PIDS,
) -> None:
    """Run the fixer as the sandbox user over ``hosts`` (our directories; each is mounted), on ``runtime``
    (``fixer_runtime``); raises on failure."""
    for i in range(0, len(hosts), _MOUNTS_PER_RUN):
        batch = hosts[i : i + _MOUNTS_PER_RUN]
        for host in batch:
            if os.stat(host).st_uid == os.geteuid():
                os.chmod(host, 0o777)  # 65534 must enter it; it lies inside our 0700 work directory
        mounts = {host: {"bind": f"/fix/{n}", "mode": "rw"} for n, host in enumerate(batch)}
        name = f"media-worker-cleanup-{uuid.uuid4().hex[:12]}"
        try:
            # named, so that it is removed by name whatever the engine's client raised on the way
            container = client.containers.run(
                image,
                entrypoint=["python3", "-s", "-c", _FIXER],
                command=["purge" if purge else "release"] + [f"/fix/{n}" for n in range(len(batch))],
                name=name,
                detach=True,
                user=f"{SANDBOX_USER}:{SANDBOX_USER}",
                network_mode="none",
                read_only=True,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                pids_limit=pids_limit,
                mem_limit="128m",
                volumes=mounts,
                labels=labels,
                **({"runtime": runtime} if runtime else {}),
            )
            code = int(container.wait(timeout=FIXER_TIMEOUT)["StatusCode"])
            if code != 0:
                raise RuntimeError(f"the cleanup container exited {code}: {container.logs(tail=5)!r}")
        finally:
            try:
                client.api.remove_container(name, force=True)
            except Exception as exc:  # noqa: BLE001 - labelled with a deadline: the janitor gets it
                if "No such container" not in str(exc):
                    log.warning("could not remove cleanup container %s: %s", name, exc)


def release_outputs(
    client: Any,
    image: str,
    output_dir: str,
    labels: dict[str, str],
    runtime: str = "",
    pids_limit: int = FIXER_PIDS,
) -> None:
    """After a run, not as root: open up what the sandbox closed in ``output_dir``, so that we can read and
    delete it. A run of our program makes no directories: nothing to do, no container, in the usual case."""
    if os.geteuid() == 0:
        return
    hosts, closed = survey(output_dir)
    if closed:
        log.warning(
            "the sandbox left directories we cannot open in %s: opening them as user %d",
            output_dir,
            SANDBOX_USER,
        )
        open_up(client, image, hosts, purge=False, labels=labels, runtime=runtime, pids_limit=pids_limit)


def remove_tree(path: str, settings: Settings) -> bool:
    """``rmtree``; on the docker runtime, what it leaves (the sandbox user's closed directories) is purged as
    that user, then removed. True when ``path`` is gone."""
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return True
    hosts, _ = survey(path)
    if hosts and settings.runtime == "docker":
        from worker.sandbox.docker import docker_client, owner_labels

        client = None
        try:
            client = docker_client(timeout=FIXER_TIMEOUT + 10)  # in here: an engine that is gone is no crash
            labels = owner_labels(settings.work_dir, FIXER_TIMEOUT, job="cleanup")
            open_up(
                client,
                settings.sandbox_image,
                hosts,
                purge=True,
                labels=labels,
                **fixer_runtime(settings),
            )
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            log.warning("could not purge %s as user %d: %s", path, SANDBOX_USER, exc)
        finally:
            if client is not None:
                client.close()
        shutil.rmtree(path, ignore_errors=True)
    gone = not os.path.lexists(path)
    if not gone:
        log.warning("could not remove %s (owned by another user); the next sweep tries again", path)
    return gone
