"""Process lifecycle for launched engines: own process group, log file, readiness, airtight teardown.

`ManagedProcess` is a context manager. Teardown is SIGTERM to the whole group, a grace period, SIGKILL,
then wait. Two guards cover the harness itself dying by SIGKILL (no `finally` runs then):
PR_SET_PDEATHSIG kills the direct child at once, and a small reaper process (harness/engines/reaper.py)
kills the whole group — wrappers such as `docker run` or engines that fork workers leave grandchildren.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from harness.client.plain_http import http_get
from harness.engines.reaper import group_alive
from harness.errors import EngineStartError

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind: connections in TIME_WAIT from an engine stopped a moment ago do not make the port
        # taken (without this a restart on the same --port is refused for a minute); a listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EngineStartError(
                    f"port {port} on {host} is already taken",
                    "stop whatever listens there, or leave the port unset to get a free one",
                ) from exc
            raise


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the thread that spawned it dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def models_listed(body: bytes) -> list[str]:
    try:
        data = json.loads(body)
        return [str(item["id"]) for item in data.get("data", [])]
    except (ValueError, TypeError, KeyError, AttributeError):
        return []


class ManagedProcess:
    """Start `argv` in its own process group, logging to `log_path`; kill the whole group on exit."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        stop_grace_s: float = 15.0,
        name: str = "engine",
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env or {})
        self.stop_grace_s = stop_grace_s
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.stop_s: float | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "process not started"
        return self.process.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self.process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # own process group: killed as a group, immune to our Ctrl-C
                    preexec_fn=_die_with_parent,
                )
            except FileNotFoundError as exc:
                raise EngineStartError(
                    f"{self.name} executable {self.argv[0]!r} was not found",
                    "install the engine or set venv / python / executable in the engine config",
                ) from exc
            except PermissionError as exc:
                raise EngineStartError(
                    f"{self.name} executable {self.argv[0]!r} is not executable", "check its permissions"
                ) from exc
        self.started_at = time.monotonic()
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "harness.engines.reaper", str(os.getpid()), str(self.process.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())

    def wait_ready(self, base_url: str, model: str | None, timeout_s: float, health_path: str = "/health") -> float:
        """Poll health then /v1/models until the model is listed; return seconds since start.

        Fails early, quoting the log, if the process exits while starting.
        """
        deadline = self.started_at + timeout_s
        delay_s = 0.05
        while True:
            code = self.exited()
            if code is not None:
                raise EngineStartError(
                    f"{self.name} exited with status {code} while starting: {self.log_tail()}",
                    f"see the full log at {self.log_path}",
                )
            status, _ = http_get(base_url + health_path, timeout_s=2.0)
            if status == 200:
                status, body = http_get(base_url + "/v1/models", timeout_s=2.0)
                if status == 200 and (model is None or model in models_listed(body)):
                    return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise EngineStartError(
                    f"{self.name} was not ready after {timeout_s:.0f} s (last health status {status}): "
                    f"{self.log_tail(3)}",
                    f"raise ready_timeout_s, or see the log at {self.log_path}",
                )
            time.sleep(delay_s)
            delay_s = min(delay_s * 1.5, 0.5)

    def stop(self) -> float:
        """SIGTERM the group, wait `stop_grace_s`, SIGKILL, wait; return seconds taken. Idempotent."""
        if self.process is None:
            return 0.0
        if self.stop_s is not None:
            return self.stop_s
        started = time.monotonic()
        pgid = self.process.pid  # start_new_session makes the child its group leader
        _signal_group(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=self.stop_grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            self.process.wait()
        # The leader is gone; make sure nothing else in its group survives (workers, wrapper children).
        _wait_group_gone(pgid, grace_s=self.stop_grace_s)
        if self._reaper is not None:
            self._reaper.kill()
            self._reaper.wait()
        self.stop_s = time.monotonic() - started
        return self.stop_s

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_group_gone(pgid: int, grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    while group_alive(pgid):
        if time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
        time.sleep(0.05)
