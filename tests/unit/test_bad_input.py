"""Bad input: one clear line naming the cause and the fix, exit code 2, nothing left running."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psutil


def harness(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in errors[0], errors[0]


def llama_servers() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "llama-server"}


def test_unknown_engine_kind() -> None:
    assert_one_line_exit_2(harness("serve", "--engine", "nosuch"), "unknown engine kind 'nosuch'",
                           "llamacpp, vllm, sglang, lmdeploy")


def test_gpu_engine_without_a_gpu() -> None:
    assert_one_line_exit_2(harness("serve", "--engine", "vllm", "--model", "x"), "vllm needs an NVIDIA GPU",
                           "--engine llamacpp")


def test_missing_engine_venv(tmp_path: Path) -> None:
    config = tmp_path / "vllm.toml"
    config.write_text('kind = "vllm"\nmodel = "x"\nvenv = "/nonexistent/venv"\nrequire_local_gpu = false\n')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "venv /nonexistent/venv does not exist")


def test_missing_engine_executable(tmp_path: Path) -> None:
    config = tmp_path / "sglang.json"
    config.write_text('{"kind": "sglang", "model": "x", "executable": "/nonexistent/python",'
                      ' "require_local_gpu": false}')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "'/nonexistent/python' was not found")


def test_invalid_config_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('kind = "llamacpp"\ngpu_memory_fractoin = 0.5\n')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "gpu_memory_fractoin")


def test_missing_model_file() -> None:
    before = llama_servers()
    assert_one_line_exit_2(harness("serve", "--model", "/nonexistent/model.gguf"),
                           "model file /nonexistent/model.gguf does not exist")
    assert llama_servers() <= before


def test_port_taken() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        before = llama_servers()
        assert_one_line_exit_2(harness("serve", "--port", str(held.getsockname()[1])), "already taken")
        assert llama_servers() <= before


def test_crash_at_start_quotes_the_engine(tmp_path: Path) -> None:
    config = tmp_path / "fake.json"
    config.write_text('{"kind": "fake", "extra_args": ["--fault", "crash_on_start"]}')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "exited with status 1",
                           "injected crash at start")


def test_readiness_timeout(tmp_path: Path) -> None:
    config = tmp_path / "slow.json"
    config.write_text('{"kind": "fake", "extra_args": ["--startup-delay-s", "30"], "ready_timeout_s": 1}')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "not ready after 1 s",
                           "raise ready_timeout_s")


def test_invalid_option_value() -> None:
    assert_one_line_exit_2(harness("serve", "--port", "0"), "port")


def test_engines_lists_every_kind() -> None:
    result = harness("engines")
    assert result.returncode == 0
    kinds = {line.split()[0] for line in result.stdout.splitlines()[1:]}
    assert kinds >= {"llamacpp", "vllm", "sglang", "lmdeploy"}
    assert "VLLM_BATCH_INVARIANT" in result.stdout and "--enable-deterministic-inference" in result.stdout
