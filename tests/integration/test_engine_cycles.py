"""The real CPU engine: 20 start/stop cycles leave nothing behind; a SIGKILLed harness takes its engine along."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from harness.engines.config import EngineConfig
from harness.engines.launch import launch_engine
from harness.engines.reaper import group_alive

pytestmark = pytest.mark.integration


def descendants_named(name: str) -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name() == name]


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_twenty_start_stop_cycles_leave_nothing_running(tmp_path: Path) -> None:
    ready_s: list[float] = []
    stop_s: list[float] = []
    ports: list[int] = []
    for cycle in range(20):
        with launch_engine(EngineConfig(kind="llamacpp"), tmp_path / f"c{cycle}") as engine:
            assert engine.pid is not None and psutil.pid_exists(engine.pid)
            pid = engine.pid
            ports.append(int(engine.base_url.rsplit(":", 1)[1]))
        assert engine.ready_s is not None and engine.stop_s is not None
        ready_s.append(engine.ready_s)
        stop_s.append(engine.stop_s)
        assert not group_alive(pid), f"cycle {cycle}: the engine's process group survived teardown"
    assert descendants_named("llama-server") == []
    assert not any(port_answers(port) for port in ports)
    print(f"\n20 cycles: ready min/median/max {min(ready_s):.2f}/{statistics.median(ready_s):.2f}/{max(ready_s):.2f} s,"
          f" stop {min(stop_s):.3f}/{statistics.median(stop_s):.3f}/{max(stop_s):.3f} s")


HARNESS = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from harness.engines.config import EngineConfig
    from harness.engines.launch import launch_engine
    with launch_engine(EngineConfig(kind="llamacpp"), Path(sys.argv[1])) as engine:
        print(engine.pid, engine.base_url, flush=True)
        time.sleep(300)
''')


def test_engine_dies_within_10_s_of_a_sigkilled_harness(tmp_path: Path) -> None:
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    engine_pid = None
    try:
        assert harness.stdout is not None
        line = harness.stdout.readline()
        assert line, "the harness script never reported a ready engine"
        engine_pid = int(line.split()[0])
        assert psutil.pid_exists(engine_pid)
        harness.send_signal(signal.SIGKILL)
        harness.wait()
        killed_at = time.monotonic()
        while psutil.pid_exists(engine_pid) and psutil.Process(engine_pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() - killed_at < 10, "the engine outlived the SIGKILLed harness by 10 s"
            time.sleep(0.05)
        print(f"\nengine gone {time.monotonic() - killed_at:.2f} s after the harness was SIGKILLed")
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        if engine_pid is not None and psutil.pid_exists(engine_pid):
            os.killpg(engine_pid, signal.SIGKILL)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_the_endpoint_and_tears_down_on_signal(stop_signal: signal.Signals) -> None:
    serve = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert line.startswith("http://127.0.0.1:") and "model=gemma-3-270m" in line, line
        port = int(line.split()[0].rsplit(":", 1)[1])
        assert port_answers(port)
        engines = [p.pid for p in psutil.Process(serve.pid).children(recursive=True) if p.name() == "llama-server"]
        serve.send_signal(stop_signal)
        assert serve.wait(timeout=30) == 130
        assert not port_answers(port)
        assert not any(psutil.pid_exists(pid) for pid in engines)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
