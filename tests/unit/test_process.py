"""`ManagedProcess` and the reaper with tiny stand-in children (never the real engine).

Each test writes a small Python script to tmp_path and runs it as the "engine": a crash while starting,
a child that never listens, a child with a grandchild, a child that ignores SIGTERM, a minimal HTTP server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.engines.process import ManagedProcess, check_port_free, free_port
from harness.engines.reaper import group_alive
from harness.errors import EngineStartError

HTTP_CHILD = """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/health": {"status": "ok"}, "/v1/models": {"data": [{"id": "m"}]}}.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def script(tmp_path: Path, name: str, code: str) -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return [sys.executable, str(path)]


def pid_running(pid: int) -> bool:
    """True while the pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


@pytest.fixture
def managed() -> Iterator[list[ManagedProcess]]:
    """Every ManagedProcess a test starts is stopped, even when the test fails."""
    started: list[ManagedProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def popened() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Plain children (reaper test): SIGKILLed and reaped at the end, group and all."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # each was started as the leader of its own group
        except ProcessLookupError:
            pass
        child.wait(timeout=10)


def start(managed: list[ManagedProcess], argv: list[str], tmp_path: Path, grace_s: float = 5.0) -> ManagedProcess:
    process = ManagedProcess(argv, tmp_path / "engine.log", stop_grace_s=grace_s, name="stand-in")
    managed.append(process)
    process.start()
    return process


def test_crash_while_starting_quotes_log_tail_and_status(tmp_path: Path, managed: list[ManagedProcess]) -> None:
    argv = script(tmp_path, "crash.py", """
        import sys
        print("loading weights", flush=True)
        print("boom: bad weights", flush=True)
        sys.exit(3)
    """)
    process = start(managed, argv, tmp_path)
    with pytest.raises(EngineStartError) as error:
        process.wait_ready(f"http://127.0.0.1:{free_port()}", None, timeout_s=30)
    message = str(error.value)
    assert "exited with status 3" in message
    assert "boom: bad weights" in message
    assert str(process.log_path) in message  # the fix points at the full log


def test_never_listens_times_out_naming_the_timeout(tmp_path: Path, managed: list[ManagedProcess]) -> None:
    process = start(managed, script(tmp_path, "idle.py", "import time\ntime.sleep(60)\n"), tmp_path)
    started = time.monotonic()
    with pytest.raises(EngineStartError, match=r"not ready after 1 s") as error:
        process.wait_ready(f"http://127.0.0.1:{free_port()}", None, timeout_s=1.0)
    assert 0.9 <= time.monotonic() - started < 10
    assert "ready_timeout_s" in str(error.value)
    assert process.exited() is None  # a timeout does not kill by itself; stop() (fixture) does


def test_stop_kills_the_whole_group_including_a_grandchild(tmp_path: Path, managed: list[ManagedProcess]) -> None:
    pid_file = tmp_path / "grandchild.pid"
    argv = script(tmp_path, "parent.py", f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open({str(pid_file)!r}, "w") as handle:
            handle.write(str(child.pid))
        time.sleep(120)
    """)
    process = start(managed, argv, tmp_path)
    assert wait_until(lambda: pid_file.is_file() and pid_file.read_text().strip() != "", 10)
    grandchild = int(pid_file.read_text())
    assert pid_running(process.pid) and pid_running(grandchild)
    assert os.getpgid(grandchild) == process.pid  # same group as the leader
    stop_s = process.stop()
    assert stop_s < 5.0
    assert not pid_running(process.pid)
    assert not pid_running(grandchild)
    assert not group_alive(process.pid)
    assert process.stop() == stop_s  # idempotent


def test_sigterm_ignored_means_sigkill_after_grace(tmp_path: Path, managed: list[ManagedProcess]) -> None:
    argv = script(tmp_path, "stubborn.py", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", flush=True)
        while True:
            time.sleep(1)
    """)
    grace_s = 0.5
    process = start(managed, argv, tmp_path, grace_s=grace_s)
    assert wait_until(lambda: "ignoring SIGTERM" in process.log_path.read_text(), 10)  # handler installed
    stop_s = process.stop()
    assert stop_s >= grace_s
    assert stop_s < grace_s + 5.0
    assert process.process is not None and process.process.returncode == -signal.SIGKILL
    assert not group_alive(process.pid)


def test_check_port_free_refuses_a_held_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(EngineStartError, match="already taken") as error:
            check_port_free("127.0.0.1", port)
        assert str(port) in str(error.value)
    check_port_free("127.0.0.1", free_port())  # a free port passes


def test_reaper_kills_engine_group_when_harness_is_sigkilled(popened: list[subprocess.Popen[bytes]]) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    fake_harness = subprocess.Popen(sleeper, start_new_session=True)
    popened.append(fake_harness)
    # The fake engine: a group leader with a worker in its group, like an engine that forks.
    fake_engine = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\ntime.sleep(120)"],
        start_new_session=True,
    )
    popened.append(fake_engine)
    reaper = subprocess.Popen(
        [sys.executable, "-m", "harness.engines.reaper", str(fake_harness.pid), str(fake_engine.pid)],
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    popened.append(reaper)
    time.sleep(0.5)  # the reaper is watching; the group is alive and so is the harness
    assert reaper.poll() is None and group_alive(fake_engine.pid)

    os.kill(fake_harness.pid, signal.SIGKILL)  # left unreaped: the reaper must see through the zombie
    killed_at = time.monotonic()

    def engine_group_gone() -> bool:
        fake_engine.poll()  # reap our own child so the group can vanish
        return fake_engine.returncode is not None and not group_alive(fake_engine.pid)

    assert wait_until(engine_group_gone, 10.0), "the reaper did not kill the engine group within 10 s"
    print(f"\nreaper: engine group gone {time.monotonic() - killed_at:.2f} s after the harness was SIGKILLed")
    assert reaper.wait(timeout=10) == 0  # and it exits by itself


def test_reaper_exits_by_itself_when_the_group_ends_normally(popened: list[subprocess.Popen[bytes]]) -> None:
    fake_engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"], start_new_session=True)
    popened.append(fake_engine)
    reaper = subprocess.Popen([sys.executable, "-m", "harness.engines.reaper", str(os.getpid()), str(fake_engine.pid)],
                              stdin=subprocess.DEVNULL, start_new_session=True)
    popened.append(reaper)
    assert fake_engine.wait(timeout=10) == 0
    assert reaper.wait(timeout=10) == 0


def test_http_child_becomes_ready_and_unknown_model_times_out(tmp_path: Path, managed: list[ManagedProcess]) -> None:
    port = free_port()
    process = start(managed, [*script(tmp_path, "server.py", HTTP_CHILD), str(port)], tmp_path)
    base_url = f"http://127.0.0.1:{port}"
    ready_s = process.wait_ready(base_url, "m", timeout_s=20)
    assert ready_s > 0
    with pytest.raises(EngineStartError, match=r"not ready after"):
        # The budget counts from start: about 1 s more of polling for a model that is never listed.
        process.wait_ready(base_url, "other", timeout_s=ready_s + 1.0)
    assert process.exited() is None
    assert process.stop() < 5.0
    assert not group_alive(process.pid)


def test_check_port_free_accepts_a_port_in_time_wait() -> None:
    """An engine stopped a moment ago leaves TIME_WAIT connections on its port, not a listener: reusable."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first: its end of the connection enters TIME_WAIT
            client.recv(1)
    check_port_free("127.0.0.1", port)  # nothing listens any more
