"""The run store: `reports/runs/<run-id>/` with `manifest.json` and `records.jsonl`, compacted to Parquet.

Records are appended and flushed one per line as each request finishes, so a run killed by SIGKILL keeps
every finished record. `finish()` compacts them into `records.parquet` and marks the manifest finished.
`load_records` reads any run, finished or interrupted (a torn last line is skipped). No pickle anywhere.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from harness import __version__
from harness.client.records import RequestRecord

if TYPE_CHECKING:  # pandas is imported where tables are built, not when the pytest plugin loads
    import pandas as pd

MANIFEST = "manifest.json"
RECORDS_JSONL = "records.jsonl"
RECORDS_PARQUET = "records.parquet"


def new_run_id(prefix: str = "run") -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stamp}-{os.urandom(2).hex()}"


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def hardware() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_bytes = None
    try:
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": memory_bytes,
    }


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RunStore:
    """Write side of one run. Thread-safe appends; a context manager that finishes or marks interrupted."""

    def __init__(self, run_dir: Path, manifest: Mapping[str, Any] | None = None) -> None:
        self.run_dir = run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._jsonl: TextIO | None = (self.run_dir / RECORDS_JSONL).open("a", encoding="utf-8")
        self.count = 0
        self.errors = 0
        self._manifest: dict[str, Any] = {
            "run_id": run_dir.name,
            "harness_version": __version__,
            "git_sha": _git_sha(),
            "hardware": hardware(),
            "started_at": _utc_now(),
            "finished_at": None,
            "status": "running",
            **(manifest or {}),
        }
        self._write_manifest()

    def update_manifest(self, **values: Any) -> None:
        with self._lock:
            self._manifest.update(values)
            self._write_manifest()

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self._manifest)

    def _write_manifest(self) -> None:
        staging = self.run_dir / (MANIFEST + ".tmp")
        staging.write_text(json.dumps(self._manifest, indent=2, default=str) + "\n")
        staging.replace(self.run_dir / MANIFEST)  # atomic: a reader never sees half a manifest

    def append(self, record: RequestRecord) -> None:
        line = json.dumps(record.to_dict(), separators=(",", ":"), default=str)
        with self._lock:
            if self._jsonl is None:
                raise RuntimeError(f"run {self.run_dir} is already finished")
            self._jsonl.write(line + "\n")
            self._jsonl.flush()  # in the kernel now: survives SIGKILL of this process
            self.count += 1
            self.errors += record.error_kind is not None

    def finish(self, status: str = "finished", **summary: Any) -> None:
        with self._lock:
            if self._jsonl is None:
                return
            self._jsonl.close()
            self._jsonl = None
        compacted = False
        if self.count:
            try:
                frame = load_records(self.run_dir, prefer_parquet=False)
                to_parquet(frame, self.run_dir / RECORDS_PARQUET)
                compacted = True
            except (ImportError, ValueError, TypeError, OSError) as exc:  # JSONL stays the source of truth
                summary["compaction_error"] = f"{type(exc).__name__}: {exc}"
        self.update_manifest(
            status=status, finished_at=_utc_now(), requests=self.count, errors=self.errors,
            parquet=compacted, **summary,
        )

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish("finished" if exc_type is None else "interrupted" if exc_type is KeyboardInterrupt
                    else "failed")


def to_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Nested, mixed-type columns (params, per-choice lists) go in as JSON text so any run compacts."""
    out = frame.copy()
    for column in ("params", "logprobs", "logprob_tokens", "finish_reasons"):
        if column in out:
            out[column] = out[column].map(lambda value: json.dumps(value, default=str))
    staging = path.with_suffix(".tmp")
    out.to_parquet(staging, index=False)
    staging.replace(path)


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except ValueError:  # the line being written when the run was killed
                continue


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def load_records(run_dir: Path, prefer_parquet: bool = True) -> pd.DataFrame:
    """Any run as a DataFrame, one row per request: Parquet when compacted, else the JSONL."""
    import pandas as pd

    parquet = run_dir / RECORDS_PARQUET
    if prefer_parquet and parquet.is_file():
        frame = pd.read_parquet(parquet)
        for column in ("params", "logprobs", "logprob_tokens", "finish_reasons"):
            if column in frame:
                frame[column] = frame[column].map(json.loads)
        return frame
    jsonl = run_dir / RECORDS_JSONL
    if not jsonl.is_file():
        raise FileNotFoundError(f"{run_dir} holds no records (no {RECORDS_JSONL})")
    return pd.DataFrame.from_records(list(iter_jsonl(jsonl)))


def load_run_records(run_dir: Path) -> list[RequestRecord]:
    """Records as objects again (for checks that rerun on stored data)."""
    return [RequestRecord.from_dict(row) for row in iter_jsonl(run_dir / RECORDS_JSONL)]

