"""The run store keeps every finished record, compacts to Parquet, and reads interrupted runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results.store import RECORDS_JSONL, RunStore, load_records, load_run_records, read_manifest
from tests.unit.records_factory import make_record


def test_records_are_on_disk_before_finish(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run", {"engine": {"kind": "fake"}})
    store.append(make_record(request_id="a"))
    store.append(make_record(request_id="b", error_kind="timeout"))
    lines = (tmp_path / "run" / RECORDS_JSONL).read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["a", "b"]
    assert read_manifest(tmp_path / "run")["status"] == "running"
    store.finish()


def test_finish_compacts_to_parquet_and_round_trips(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with RunStore(run_dir) as store:
        store.append(make_record(request_id="a", params={"seed": 1, "stop": ["x"]}, logprobs=[[-0.5]],
                                 logprob_tokens=[["a"]]))
        store.append(make_record(request_id="b", params={"n": 2}))
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "finished" and manifest["requests"] == 2 and manifest["parquet"] is True
    assert manifest["harness_version"] and "cpu_count" in manifest["hardware"]
    frame = load_records(run_dir)
    assert list(frame["request_id"]) == ["a", "b"]
    assert frame["params"][0] == {"seed": 1, "stop": ["x"]} and list(frame["chunk_ns"][0]) == [
        10_000_000, 15_000_000, 20_000_000, 25_000_000]


def test_interrupted_run_with_torn_last_line_is_readable(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.append(make_record(request_id="a"))
    with (tmp_path / "run" / RECORDS_JSONL).open("a") as handle:
        handle.write('{"request_id": "half')  # what a SIGKILL mid-write leaves
    frame = load_records(tmp_path / "run")
    assert list(frame["request_id"]) == ["a"]
    assert [r.request_id for r in load_run_records(tmp_path / "run")] == ["a"]


def test_exception_marks_the_run_failed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunStore(tmp_path / "run") as store:
        store.append(make_record())
        raise RuntimeError("engine died")
    assert read_manifest(tmp_path / "run")["status"] == "failed"


def test_no_pickle_in_the_package() -> None:
    package = Path(__file__).resolve().parents[2] / "harness"
    offenders = [p for p in package.rglob("*.py") if "import pickle" in p.read_text()]
    assert offenders == []
