"""The pytest plugin attached (to the fake engine, to a CPU engine started separately) and launching."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from harness.engines.config import EngineConfig
from harness.engines.launch import launch_engine
from harness.results.store import load_records, read_manifest
from tests.integration.conftest import read_checks, run_pytest

pytestmark = pytest.mark.integration

FIXTURE_TEST = '''
from harness.client.records import RequestSpec

def test_one_completion(engine, client, run):
    record = client.one(RequestSpec("Say hello.", {"max_tokens": 8, "temperature": 0, "ignore_eos": True}))
    assert record.ok, record.error_message
    assert record.texts[0]
    assert engine.launched
'''


def test_attached_to_the_fake_engine(tmp_path: Path) -> None:
    with launch_engine(EngineConfig(kind="fake", extra_args=["--ttft-ms", "1", "--itl-ms", "1"]), tmp_path) as fake:
        result = run_pytest("suites/determinism", "--engine", "vllm", "--endpoint", fake.base_url,
                            "--model", fake.model, "--profile", "quick", "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stdout
    assert "attached at" in result.stdout and "requests:" in result.stdout
    assert all(read_checks(tmp_path / "run").values())
    manifest = read_manifest(tmp_path / "run")
    assert manifest["engine"]["launched"] is False and manifest["status"] == "finished"


def test_attached_to_a_cpu_engine_started_separately(tmp_path: Path, repo: Path) -> None:
    with launch_engine(EngineConfig(kind="llamacpp"), tmp_path) as cpu:
        result = run_pytest("suites/determinism", "--engine", "llamacpp", "--endpoint", cpu.base_url,
                            "--model", cpu.model, "--profile", "quick", "--run-dir", str(tmp_path / "run"),
                            "--expectations", str(repo / "suites/determinism/expectations.toml"))
    checks = read_checks(tmp_path / "run")
    assert set(checks) >= {"seed_repeatability", "seed_effect", "greedy_invariance", "stream_equivalence"}, \
        result.stdout
    # The verdicts are the engine's (another CPU may round differently); the plugin's job is that the exit
    # code follows them: failures outside the expectations file fail the run, declared ones do not.
    declared = {"seed_repeatability"}
    unexpected = {name for name, passed in checks.items() if not passed} - declared
    assert result.returncode == (1 if unexpected else 0), result.stdout
    assert "expected failure on llamacpp: seed_repeatability" in result.stdout
    records = load_records(tmp_path / "run")
    assert len(records) > 20 and records["error_kind"].isna().all()


def test_launching_the_cpu_engine_from_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixtures.py").write_text(FIXTURE_TEST)
    before = {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "llama-server"}
    result = run_pytest(str(tmp_path / "test_uses_fixtures.py"), "--run-dir", str(tmp_path / "run"), "-p",
                        "no:randomly")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "launched at http://127.0.0.1:" in result.stdout
    after = {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "llama-server"}
    assert after <= before, "the plugin left a llama-server running"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["engine"]["kind"] == "llamacpp" and manifest["requests"] == 1


@pytest.mark.parametrize(("args", "needle"), [
    (("--engine", "nosuch"), "unknown engine kind 'nosuch'"),
    (("--profile", "huge"), "unknown profile 'huge'"),
    (("--endpoint", "localhost:8000"), "must start with http://"),
    (("--golden", "/nonexistent/golden.json"), "golden file /nonexistent/golden.json does not exist"),
])
def test_bad_options_give_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    result = run_pytest("suites/determinism", *args, "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert needle in output and "Traceback" not in output


def test_unreachable_endpoint_exits_2(tmp_path: Path) -> None:
    result = run_pytest("suites/determinism", "--endpoint", "http://127.0.0.1:9", "--model", "m",
                        "--run-dir", str(tmp_path / "run"), timeout_s=120)
    assert result.returncode == 2
    assert "nothing usable answers at http://127.0.0.1:9 " in result.stdout + result.stderr
