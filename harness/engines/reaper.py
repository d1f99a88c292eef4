"""The reaper: a tiny watchdog that kills an engine's process group when the harness dies.

Run as `python -m harness.engines.reaper HARNESS_PID ENGINE_PGID`, in its own session. If the harness is
SIGKILLed no cleanup code of its own runs; the reaper notices within `POLL_S` and SIGTERMs, then SIGKILLs,
the engine's group. It exits by itself when the engine group is gone (normal teardown).
"""

from __future__ import annotations

import os
import signal
import sys
import time

POLL_S = 0.25
GRACE_S = 5.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); a reparented zombie has PPID 1 or the subreaper and state Z.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    """Whether any process of the group exists (the standard library only: the reaper must start fast)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(harness_pid: int, engine_pgid: int) -> None:
    while group_alive(engine_pgid):
        if not _alive(harness_pid):
            os.killpg(engine_pgid, signal.SIGTERM)
            deadline = time.monotonic() + GRACE_S
            while group_alive(engine_pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if group_alive(engine_pgid):
                os.killpg(engine_pgid, signal.SIGKILL)
            return
        time.sleep(POLL_S)


def main() -> None:
    harness_pid, engine_pgid = int(sys.argv[1]), int(sys.argv[2])
    try:
        reap(harness_pid, engine_pgid)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    main()
