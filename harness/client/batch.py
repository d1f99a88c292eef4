"""Running many specs: a bounded worker pool (fixed concurrency, optional arrival offsets) and a sync facade.

`run_specs` is the asyncio core; `EngineClient` is what pytest tests get as the `client` fixture: plain
synchronous calls that run an event loop per batch and hand every record to the run recorder as it lands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from harness.client.openai_client import OpenAIClient
from harness.client.plain_http import http_get
from harness.client.records import RequestRecord, RequestSpec

RecordSink = Callable[[RequestRecord], None]


async def run_specs(
    client: OpenAIClient,
    specs: Sequence[RequestSpec],
    concurrency: int = 1,
    arrivals_s: Sequence[float] | None = None,
    on_record: RecordSink | None = None,
) -> list[RequestRecord]:
    """Send `specs` with at most `concurrency` in flight; spec i is not sent before `arrivals_s[i]`.

    Records come back in spec order; `on_record` sees each as soon as it finishes.
    """
    if arrivals_s is not None and len(arrivals_s) != len(specs):
        raise ValueError("arrivals_s must have one offset per spec")
    results: list[RequestRecord | None] = [None] * len(specs)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(specs)):
        queue.put_nowait(index)
    started = time.perf_counter()

    async def worker() -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if arrivals_s is not None:
                wait_s = started + arrivals_s[index] - time.perf_counter()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
            record = await client.send(specs[index])
            results[index] = record
            if on_record is not None:
                on_record(record)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(specs))))))
    return [record for record in results if record is not None]


class EngineClient:
    """Synchronous front for tests: `client.run(specs, concurrency=8)` -> records, each recorded."""

    def __init__(
        self,
        base_url: str,
        model: str,
        engine: str = "",
        on_record: RecordSink | None = None,
        timeout_s: float = 300.0,
        close_after_stream: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.engine = engine
        self.on_record = on_record
        self.timeout_s = timeout_s
        self.close_after_stream = close_after_stream

    def run(
        self, specs: Sequence[RequestSpec], concurrency: int = 1, arrivals_s: Sequence[float] | None = None
    ) -> list[RequestRecord]:
        async def go() -> list[RequestRecord]:
            async with OpenAIClient(self.base_url, self.model, self.engine, timeout_s=self.timeout_s,
                                    close_after_stream=self.close_after_stream) as client:
                return await run_specs(client, specs, concurrency, arrivals_s, self.on_record)

        return asyncio.run(go())

    def one(self, spec: RequestSpec) -> RequestRecord:
        return self.run([spec])[0]

    def get_text(self, path: str, timeout_s: float = 10.0) -> tuple[int, str]:
        """A plain GET (health, metrics): (status, body); status 0 when nothing answers."""
        status, body = http_get(self.base_url + path, timeout_s)
        return status, body.decode("utf-8", errors="replace")
