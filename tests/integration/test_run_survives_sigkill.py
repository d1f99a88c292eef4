"""A `harness load` run SIGKILLed half-way leaves a readable run with every request it had finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.results.store import RECORDS_JSONL, load_records, read_manifest
from tests.integration.conftest import fake_config

pytestmark = pytest.mark.integration


def test_sigkill_half_way_keeps_finished_records(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = fake_config(tmp_path, ttft_ms=5, itl_ms=20)
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "load", "--engine-config", str(config), "--concurrency", "4",
         "--requests", "400", "--max-tokens", "8", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    engine_pids: set[int] = set()
    try:
        jsonl = out / RECORDS_JSONL
        deadline = time.monotonic() + 60
        while not (jsonl.is_file() and len(jsonl.read_text().splitlines()) >= 20):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the load never wrote 20 records"
            time.sleep(0.05)
        engine_pids = {child.pid for child in psutil.Process(process.pid).children(recursive=True)
                       if "fake_engine" in " ".join(child.cmdline())}
        written_before_kill = len(jsonl.read_text().splitlines())
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stdout:
            process.stdout.close()

    frame = load_records(out)
    assert written_before_kill <= len(frame) < 400
    assert frame["error_kind"].isna().all()
    assert (frame["usage_completion_tokens"] == 8).all()
    assert read_manifest(out)["status"] == "running"  # it never got to say otherwise
    # The engine it launched does not outlive it.
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
              for pid in engine_pids):
        assert time.monotonic() < deadline, "the fake engine outlived the SIGKILLed harness"
        time.sleep(0.1)
