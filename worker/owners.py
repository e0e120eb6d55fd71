"""Who owns a job directory or a sandbox container, and whether that owner still lives.

A pid is a poor owner: it is reused, and two worker containers sharing the host's ``/dev/shm`` cannot see
each other's pids (each judges the other's dead). So each process (the parent, every pool child) has a
random *instance id* and, for its lifetime, holds an exclusive ``flock`` on ``<work_dir>/owner-<id>.lock``.
The kernel drops the lock when the process dies, however it dies. "Is X alive" is "can a non-blocking lock
on X's file be taken": no, it lives; yes (or no file), it is dead. The lock belongs to the file on the shared
tmpfs, so the test holds across PID namespaces and containers. Ids are never reused.
"""

from __future__ import annotations

import fcntl
import glob
import os
import time
import uuid

LOCK_PREFIX, LOCK_SUFFIX = "owner-", ".lock"
_NEW_SUFFIX = ".new"
_STALE_NEW_SECONDS = 60.0

_instance: str | None = None
_parent: str | None = None
_held: dict[str, int] = {}  # work dir → fd of our lock file there


def new_id() -> str:
    """A fresh instance id: hex only, so it fits ``job-<id>-<job>`` names and Docker labels."""
    return uuid.uuid4().hex


def adopt(instance: str, parent: str | None) -> None:
    """Take the id the pool chose for this child (before anything claims a lock), and the parent's."""
    global _instance, _parent
    if _held and instance != _instance:
        raise RuntimeError("adopt() after this process claimed a lock under another id")
    _instance, _parent = instance, parent


def instance_id() -> str:
    """This process's id (created on first use)."""
    global _instance
    if _instance is None:
        _instance = new_id()
    return _instance


def parent_id() -> str | None:
    """The id of the pool parent that started this process; None outside a pool."""
    return _parent


def lock_path(work_dir: str, owner: str) -> str:
    return os.path.join(work_dir, f"{LOCK_PREFIX}{owner}{LOCK_SUFFIX}")


def claim(work_dir: str) -> str:
    """Hold this process's lock in ``work_dir`` until it exits or :func:`release` (idempotent); return the id."""
    key = os.path.abspath(work_dir)
    owner = instance_id()
    if key in _held:
        return owner
    os.makedirs(key, mode=0o700, exist_ok=True)
    final = lock_path(key, owner)
    # Locked before it gets its name: a janitor must never see the final name unlocked while we live.
    fd = os.open(final + _NEW_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # nothing is written into it: an empty file needs no block, so a full tmpfs cannot stop a child's start
        os.rename(final + _NEW_SUFFIX, final)
    except BaseException:
        os.close(fd)
        raise
    _held[key] = fd
    return owner


def release(work_dir: str | None = None) -> None:
    """A clean exit: drop our lock file(s) (``work_dir``, or all); nothing of ours remains to protect."""
    for key in [os.path.abspath(work_dir)] if work_dir else list(_held):
        fd = _held.pop(key, None)
        if fd is None:
            continue
        try:
            os.unlink(lock_path(key, instance_id()))  # while still locked: nobody can judge it dead first
        except FileNotFoundError:
            pass
        os.close(fd)


def alive(work_dir: str, owner: str) -> bool:
    """True while the process with instance id ``owner`` holds its lock in ``work_dir``."""
    try:
        fd = os.open(lock_path(work_dir, owner), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: never remove what may be in use
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops our shared lock, if we got it
    return False


def lock_owners(work_dir: str) -> list[str]:
    """Instance ids that have a lock file in ``work_dir`` (alive or not)."""
    pattern = os.path.join(glob.escape(work_dir), f"{LOCK_PREFIX}*{LOCK_SUFFIX}")
    return [os.path.basename(p)[len(LOCK_PREFIX) : -len(LOCK_SUFFIX)] for p in glob.glob(pattern)]


def forget(work_dir: str, owner: str) -> bool:
    """Remove the lock file of a dead ``owner`` (checked again here); True when it is gone."""
    if alive(work_dir, owner):
        return False
    try:
        os.unlink(lock_path(work_dir, owner))
    except FileNotFoundError:
        pass
    return True


def forget_stale_claims(work_dir: str) -> None:
    """Remove half-made lock files (a process killed between create and rename) once surely abandoned."""
    pattern = os.path.join(glob.escape(work_dir), f"{LOCK_PREFIX}*{LOCK_SUFFIX}{_NEW_SUFFIX}")
    for path in glob.glob(pattern):
        try:
            if time.time() - os.stat(path).st_mtime < _STALE_NEW_SECONDS:
                continue  # maybe a claim in progress
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                os.unlink(path)
            finally:
                os.close(fd)
        except OSError:
            pass


def job_dir_prefix(owner: str) -> str:
    """Job directories of one process (its instance id) start with this — its warm sandboxes' too — so that
    its death can be cleaned up ('*': a glob)."""
    return f"job-{owner}-"
