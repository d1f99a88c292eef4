"""The fake engine as an instrument: each fault breaks its one promise, and the client records it as data."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.client.records import RequestSpec
from harness.engines.config import EngineConfig
from harness.engines.launch import EngineHandle, launch_engine
from harness.telemetry.prometheus import canonical_metrics

pytestmark = pytest.mark.integration

STREAM = RequestSpec("a prompt of five words", {"max_tokens": 8, "temperature": 0, "ignore_eos": True})


@contextmanager
def fake(tmp_path: Path, *faults: str, itl_ms: float = 1.0) -> Iterator[EngineHandle]:
    args = ["--ttft-ms", "1", "--itl-ms", str(itl_ms)] + [a for f in faults for a in ("--fault", f)]
    with launch_engine(EngineConfig(kind="fake", extra_args=args), tmp_path) as engine:
        yield engine


def metrics(engine: EngineHandle) -> dict[str, float | None]:
    status, text = engine.client().get_text("/metrics")
    assert status == 200
    return canonical_metrics(engine.adapter, text)


def test_correct_engine_keeps_every_promise(tmp_path: Path) -> None:
    with fake(tmp_path) as engine:
        client = engine.client()
        streamed, plain = client.run([STREAM, RequestSpec(STREAM.prompt, STREAM.params, stream=False)])
        chat = client.one(RequestSpec([{"role": "user", "content": "hi"}], {"max_tokens": 4, "n": 2}, api="chat"))
    assert streamed.ok and plain.ok and chat.ok, (streamed.error_message, plain.error_message, chat.error_message)
    assert streamed.texts == plain.texts and len(streamed.chunk_ns) == 8 and streamed.usage_completion_tokens == 8
    # One clock: no chunk is seen before the server sent it.
    assert len(streamed.chunk_server_ns) == 8
    assert all(seen >= sent for seen, sent in zip(streamed.chunk_ns, streamed.chunk_server_ns))
    assert all(chat.texts) and chat.finish_reasons == ["length", "length"]


@pytest.mark.parametrize(("fault", "error_kind"), [
    ("no_done", "no_done"),
    ("malformed_json", "malformed_json"),
    ("missing_usage", "missing_usage"),
    ("error_midstream", "error_event"),
    ("bad_choice_index", "bad_choice_index"),
    ("split_events", None),  # legal framing: a correct decoder copes
])
def test_stream_faults_become_record_errors(tmp_path: Path, fault: str, error_kind: str | None) -> None:
    with fake(tmp_path, fault) as engine:
        record = engine.client().one(STREAM)
    assert record.error_kind == error_kind, record.error_message
    if error_kind is None:
        assert len(record.chunk_ns) == 8 and record.text


def test_disconnect_stops_a_correct_engine_and_not_a_faulty_one(tmp_path: Path) -> None:
    leave_early = RequestSpec("p", {"max_tokens": 60, "ignore_eos": True, "temperature": 0}, cancel_after_chunks=3)
    for faults, expect_all_tokens in (((), False), (("ignores_disconnect",), True)):
        with fake(tmp_path, *faults, itl_ms=10) as engine:
            record = engine.client().one(leave_early)
            assert record.cancelled_after_chunks == 3
            deadline = time.monotonic() + 10  # 60 tokens at 10 ms: done after about 0.6 s, if it goes on
            while True:
                after = metrics(engine)
                if after["running"] == 0 and after["requests_aborted_total"] == 1:
                    break
                assert time.monotonic() < deadline, after
                time.sleep(0.05)
            time.sleep(0.2)
            after = metrics(engine)
        generated = after["generation_tokens_total"]
        assert generated is not None
        assert (generated == 60) is expect_all_tokens, (faults, after)


def test_invalid_input_is_400_and_the_faults_that_break_it(tmp_path: Path) -> None:
    bad = RequestSpec("p", {"max_tokens": 4, "temperature": -3}, stream=False)
    with fake(tmp_path) as engine:
        assert engine.client().one(bad).http_status == 400
        assert engine.client().get_text("/health")[0] == 200
    with fake(tmp_path, "accepts_invalid") as engine:
        assert engine.client().one(bad).http_status == 200
    with fake(tmp_path, "crash_on_invalid") as engine:
        record = engine.client().one(bad)
        assert record.error_kind == "connect"
        assert engine.client().get_text("/health", timeout_s=2)[0] == 0


def test_startup_delay_then_ready(tmp_path: Path) -> None:
    config = EngineConfig(kind="fake", extra_args=["--startup-delay-s", "1.0"])
    with launch_engine(config, tmp_path) as engine:
        assert engine.ready_s is not None and engine.ready_s >= 1.0


def test_unknown_fault_is_one_line_and_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "harness.testing.fake_engine", "--port", "1", "--fault", "nope"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "unknown fault nope" in result.stderr and "Traceback" not in result.stderr


def test_attach_waits_for_health_not_just_the_model_list() -> None:
    from harness.engines.launch import attach_engine
    from harness.engines.process import free_port
    from harness.errors import EngineStartError

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "harness.testing.fake_engine", "--port", str(port),
                               "--startup-delay-s", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        config = EngineConfig(kind="sglang", endpoint=f"http://127.0.0.1:{port}")
        with pytest.raises(EngineStartError, match="health 503"), attach_engine(config, timeout_s=0.5):
            pass
        started = time.monotonic()
        with attach_engine(config, timeout_s=15) as engine:
            assert engine.model == "fake-model" and not engine.launched
        assert time.monotonic() - started > 0.5
    finally:
        server.terminate()
        server.wait(timeout=10)
