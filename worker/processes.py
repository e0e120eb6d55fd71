"""Small process helpers shared by the service and the sandbox reaper."""
from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
