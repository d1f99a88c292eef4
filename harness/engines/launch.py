"""Opening an engine: launch it (adapter argv, managed process, readiness) or attach to a running one.

Both paths hand out the same `EngineHandle`, so suites and loads never care which happened. Launched
engines bind to 127.0.0.1 only; time to ready and time to stop are recorded on the handle.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.client.batch import EngineClient, RecordSink
from harness.client.openai_client import OpenAIClient
from harness.client.plain_http import http_get
from harness.engines.base import EngineAdapter
from harness.engines.config import EngineConfig
from harness.engines.gpu import GpuProbe, NvmlProbe, require_gpu
from harness.engines.process import ManagedProcess, check_port_free, free_port, models_listed
from harness.engines.registry import get_adapter
from harness.errors import EngineStartError

LOOPBACK = "127.0.0.1"


@dataclass
class EngineHandle:
    """A ready engine, launched or attached: where it is, what it serves, and how it was started."""

    kind: str
    adapter: EngineAdapter
    base_url: str
    model: str
    launched: bool
    config: EngineConfig
    argv: list[str] = field(default_factory=list)
    version: str | None = None
    log_path: Path | None = None
    ready_s: float | None = None
    stop_s: float | None = None
    pid: int | None = None

    def async_client(self, timeout_s: float = 300.0) -> OpenAIClient:
        """The timed client for this engine, with its connection quirks applied."""
        return OpenAIClient(self.base_url, self.model, self.kind, timeout_s=timeout_s,
                            close_after_stream=self.adapter.quirks.closes_connection_after_stream)

    def client(self, on_record: RecordSink | None = None, timeout_s: float = 300.0) -> EngineClient:
        """The synchronous client for this engine (what the pytest `client` fixture hands out)."""
        return EngineClient(self.base_url, self.model, self.kind, on_record=on_record, timeout_s=timeout_s,
                            close_after_stream=self.adapter.quirks.closes_connection_after_stream)

    def describe(self) -> dict[str, object]:
        """Plain data for manifests."""
        return {
            "kind": self.kind,
            "base_url": self.base_url,
            "model": self.model,
            "launched": self.launched,
            "version": self.version,
            "argv": self.argv,
            "ready_s": self.ready_s,
            "stop_s": self.stop_s,
            "deterministic": self.config.deterministic,
        }


def command_for(adapter: EngineAdapter, config: EngineConfig) -> list[str]:
    """The command that starts the engine from its own environment (venv, interpreter or executable)."""
    launcher = adapter.launcher
    if config.venv is not None and not (config.venv / "bin" / "python").exists():
        raise EngineStartError(
            f"{adapter.kind} venv {config.venv} does not exist (no bin/python there)",
            f"create it and install {adapter.kind} into it, or fix `venv` in the engine config",
        )
    bin_dir = config.venv / "bin" if config.venv else (config.python.parent if config.python else None)
    if launcher.module is not None:
        python = config.executable or (str(bin_dir / "python") if config.venv and bin_dir else None)
        python = python or (str(config.python) if config.python else "python3")
        command = [python, "-m", launcher.module]
    else:
        first = config.executable or (str(bin_dir / launcher.script[0]) if bin_dir else launcher.script[0])
        command = [first, *launcher.script[1:]]
    return [*config.command_prefix, *command]


def is_installed(adapter: EngineAdapter, config: EngineConfig) -> bool:
    """Whether the engine's command resolves here (wrappers such as srun cannot be checked)."""
    try:
        command = command_for(adapter, config)
    except EngineStartError:
        return False
    if config.command_prefix:
        return shutil.which(config.command_prefix[0]) is not None
    first = command[0]
    return shutil.which(first) is not None or (os.path.isfile(first) and os.access(first, os.X_OK))


def probe_version(base_url: str) -> str | None:
    """Best effort: vLLM and the fake engine answer /version; llama.cpp reports build_info in /props."""
    for path, key in (("/version", "version"), ("/props", "build_info")):
        status, body = http_get(base_url + path, timeout_s=2.0)
        if status == 200:
            try:
                value = json.loads(body).get(key)
            except (ValueError, AttributeError):
                continue
            if value:
                return str(value)
    return None


@contextmanager
def launch_engine(
    config: EngineConfig,
    run_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
    gpu_probe: GpuProbe | None = None,
) -> Iterator[EngineHandle]:
    adapter = get_adapter(config.kind)
    if adapter.needs_gpu and config.require_local_gpu and not config.command_prefix:
        require_gpu(adapter.kind, gpu_probe or NvmlProbe())
    config = adapter.prepare(config, progress)
    if config.port is not None:
        check_port_free(LOOPBACK, config.port)
    port = config.port or free_port(LOOPBACK)
    served = adapter.served_name(config)
    argv = command_for(adapter, config) + adapter.build_args(config, LOOPBACK, port, served)
    argv += config.extra_args
    env = {**adapter.build_env(config), **config.env}
    log_path = run_dir / f"engine-{adapter.kind}-{port}.log"
    base_url = f"http://{LOOPBACK}:{port}"
    process = ManagedProcess(argv, log_path, env=env, stop_grace_s=config.stop_grace_s, name=adapter.kind)
    handle = EngineHandle(adapter.kind, adapter, base_url, served, True, config, argv, log_path=log_path)
    progress(f"starting {adapter.title} on {base_url} (log: {log_path})")
    with process:
        handle.pid = process.pid
        handle.ready_s = process.wait_ready(base_url, served, config.ready_timeout_s, adapter.health_path)
        handle.version = probe_version(base_url)
        progress(f"{adapter.title} ready in {handle.ready_s:.1f} s")
        try:
            yield handle
        finally:
            handle.stop_s = process.stop()


@contextmanager
def attach_engine(config: EngineConfig, timeout_s: float = 10.0) -> Iterator[EngineHandle]:
    """Use a server that is already running; KIND only selects the metric and parameter dialect."""
    assert config.endpoint is not None
    adapter = get_adapter(config.kind)
    base_url = config.endpoint
    deadline = time.monotonic() + timeout_s
    while True:
        # Health first: SGLang lists its models while still warming up (http_server.py:1993). A server
        # without /health (404) is judged by /v1/models alone.
        health, _ = http_get(base_url + adapter.health_path, timeout_s=min(timeout_s, 5.0))
        status, body = http_get(base_url + "/v1/models", timeout_s=min(timeout_s, 5.0))
        if status == 200 and health in (200, 404):
            break
        if time.monotonic() > deadline:
            raise EngineStartError(
                f"nothing usable answers at {base_url} (health {health or 'no connection'}, "
                f"/v1/models {status or 'no connection'})",
                "check --endpoint (the server root, e.g. http://HOST:PORT) and that the server is up and ready",
            )
        time.sleep(0.2)
    listed = models_listed(body)
    model = config.served_model_name or config.model or (listed[0] if listed else None)
    if model is None:
        raise EngineStartError(f"{base_url}/v1/models lists no model", "pass --model NAME")
    if listed and model not in listed:
        raise EngineStartError(
            f"model {model!r} is not served at {base_url} (it lists: {', '.join(listed)})",
            "pass one of the listed names with --model",
        )
    yield EngineHandle(adapter.kind, adapter, base_url, model, False, config, version=probe_version(base_url))


@contextmanager
def open_engine(
    config: EngineConfig, run_dir: Path, progress: Callable[[str], None] = lambda _: None
) -> Iterator[EngineHandle]:
    """Attach when the config names an endpoint, else launch."""
    if config.endpoint is not None:
        with attach_engine(config) as handle:
            yield handle
    else:
        with launch_engine(config, run_dir, progress) as handle:
            yield handle
