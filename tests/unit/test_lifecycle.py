"""Process lifecycle with small stand-in children: crash at start, readiness, group teardown, the reaper."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.engines.process import ManagedProcess, check_port_free, free_port
from harness.engines.reaper import group_alive
from harness.errors import EngineStartError

HTTP_CHILD = textwrap.dedent('''
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/health": {"status": "ok"}, "/v1/models": {"data": [{"id": "m"}]}}.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())
        def log_message(self, *args):
            pass
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
''')


def script(tmp_path: Path, name: str, code: str) -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return [sys.executable, str(path)]


@pytest.fixture
def processes() -> Iterator[list[ManagedProcess]]:
    """Whatever a test starts is stopped, even when the test fails."""
    started: list[ManagedProcess] = []
    yield started
    for process in started:
        process.stop()


def start(processes: list[ManagedProcess], argv: list[str], tmp_path: Path, grace_s: float = 5.0) -> ManagedProcess:
    process = ManagedProcess(argv, tmp_path / "engine.log", stop_grace_s=grace_s, name="stand-in")
    processes.append(process)
    process.start()
    return process


def test_crash_while_starting_quotes_the_log(tmp_path: Path, processes: list[ManagedProcess]) -> None:
    argv = script(tmp_path, "crash.py", "import sys\nprint('boom: bad weights', flush=True)\nsys.exit(3)\n")
    process = start(processes, argv, tmp_path)
    with pytest.raises(EngineStartError) as error:
        process.wait_ready("http://127.0.0.1:9", None, timeout_s=30)
    assert "exited with status 3" in str(error.value) and "boom: bad weights" in str(error.value)


def test_readiness_timeout_names_the_timeout(tmp_path: Path, processes: list[ManagedProcess]) -> None:
    process = start(processes, script(tmp_path, "idle.py", "import time\ntime.sleep(60)\n"), tmp_path)
    with pytest.raises(EngineStartError, match=r"not ready after 1 s"):
        process.wait_ready(f"http://127.0.0.1:{free_port()}", None, timeout_s=1.0)


def test_ready_when_health_and_model_answer(tmp_path: Path, processes: list[ManagedProcess]) -> None:
    port = free_port()
    argv = [*script(tmp_path, "server.py", HTTP_CHILD), str(port)]
    process = start(processes, argv, tmp_path)
    assert process.wait_ready(f"http://127.0.0.1:{port}", "m", timeout_s=20) > 0
    with pytest.raises(EngineStartError, match="not ready"):
        process.wait_ready(f"http://127.0.0.1:{port}", "other-model", timeout_s=1.0)


def test_teardown_kills_the_whole_group(tmp_path: Path, processes: list[ManagedProcess]) -> None:
    pid_file = tmp_path / "grandchild.pid"
    argv = script(tmp_path, "parent.py", f'''
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(120)
    ''')
    process = start(processes, argv, tmp_path)
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    process.stop()
    assert not group_alive(process.pid)
    with pytest.raises(ProcessLookupError):
        os.kill(grandchild, 0)


def test_sigterm_ignored_means_sigkill_after_grace(tmp_path: Path, processes: list[ManagedProcess]) -> None:
    argv = script(tmp_path, "stubborn.py", '''
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(120)
    ''')
    process = start(processes, argv, tmp_path, grace_s=0.5)
    deadline = time.monotonic() + 10
    while "ready" not in (tmp_path / "engine.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert process.stop() >= 0.5
    assert process.exited() == -signal.SIGKILL


def test_port_taken_is_one_clear_error() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        with pytest.raises(EngineStartError, match="already taken"):
            check_port_free("127.0.0.1", held.getsockname()[1])


def test_missing_executable_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineStartError, match="was not found"):
        ManagedProcess(["/nonexistent/vllm", "serve"], tmp_path / "log").start()


def test_reaper_kills_the_engine_group_when_the_harness_dies() -> None:
    harness = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    reaper = subprocess.Popen([sys.executable, "-m", "harness.engines.reaper", str(harness.pid), str(engine.pid)])
    try:
        time.sleep(0.5)
        assert engine.poll() is None, "the reaper must leave the engine alone while the harness lives"
        harness.kill()
        harness.wait()
        started = time.monotonic()
        engine.wait(timeout=10)
        assert time.monotonic() - started < 10
        reaper.wait(timeout=10)
    finally:
        for process in (harness, engine, reaper):
            if process.poll() is None:
                process.kill()
                process.wait()
