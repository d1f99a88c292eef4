"""Synthetic records for unit tests of pure functions (checks, metrics, store)."""

from __future__ import annotations

from typing import Any

from harness.client.records import RequestRecord

MS = 1_000_000


def make_record(texts: list[str] | None = None, *, ttft_ms: float = 10.0, itl_ms: float = 5.0, tokens: int = 4,
                start_ns: int = 0, **fields: Any) -> RequestRecord:
    """A finished streamed request whose chunks arrive exactly on the given schedule."""
    chunks = [start_ns + int((ttft_ms + i * itl_ms) * MS) for i in range(tokens)]
    record = RequestRecord(
        request_id=fields.pop("request_id", "r"), engine="fake", endpoint="http://127.0.0.1:1", model="m",
        api="completions", tag=fields.pop("tag", ""), params=fields.pop("params", {}), prompt_hash="h",
        stream=True, http_status=200, t_send_ns=start_ns, t_headers_ns=start_ns + MS,
        t_end_ns=(chunks[-1] if chunks else start_ns) + MS, chunk_ns=chunks, chunk_choice=[0] * tokens,
        texts=texts if texts is not None else ["a b c d"], finish_reasons=["length"],
        usage_completion_tokens=tokens,
    )
    for name, value in fields.items():
        setattr(record, name, value)
    return record
