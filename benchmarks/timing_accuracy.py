"""Timing accuracy of the client against the fake engine's ground truth (injected TTFT and ITL).

Launches the fake engine (TTFT 50 ms, ITL 10 ms by default) through the normal lifecycle, streams requests
at concurrency 1 and 64, and prints measured TTFT / ITL P50 and P99 beside the injected values, plus the
per-chunk delivery delay measured against the server's own send stamps (`x_sent_ns`, same monotonic clock).

    .venv/bin/python benchmarks/timing_accuracy.py [--ttft-ms 50] [--itl-ms 10] [--tokens 16] [--pin]

--pin puts the client on the last CPU and the fake engine on the others (taskset), so that what remains is
the client's own error rather than two processes fighting over the same core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from harness.client.batch import run_specs
from harness.client.records import RequestRecord, RequestSpec
from harness.engines.config import EngineConfig
from harness.engines.launch import EngineHandle, launch_engine
from harness.results.metrics import delivery_delays_ms, percentiles, request_timings


async def measure(engine: EngineHandle, concurrency: int, requests: int, tokens: int) -> list[RequestRecord]:
    spec = RequestSpec("timing probe", {"max_tokens": tokens, "temperature": 0, "ignore_eos": True})
    async with engine.async_client() as client:
        await run_specs(client, [spec] * concurrency, concurrency)  # warm the connection pool
        return await run_specs(client, [spec] * requests, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--pin", action="store_true", help="client and fake engine on separate CPUs")
    args = parser.parse_args()
    prefix: list[str] = []
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("--pin needs at least 2 CPUs")
        os.sched_setaffinity(0, {cpus[-1]})
        prefix = ["taskset", "-c", ",".join(str(c) for c in cpus[:-1])]
    config = EngineConfig(kind="fake", command_prefix=prefix,
                          extra_args=["--ttft-ms", str(args.ttft_ms), "--itl-ms", str(args.itl_ms)])
    print(f"injected: TTFT {args.ttft_ms:.1f} ms, ITL {args.itl_ms:.1f} ms, {args.tokens} tokens per request")
    with tempfile.TemporaryDirectory() as tmp, launch_engine(config, Path(tmp)) as engine:
        for concurrency, requests in ((1, 100), (64, 640)):
            records = asyncio.run(measure(engine, concurrency, requests, args.tokens))
            ok = [r for r in records if r.ok]
            timings = [request_timings(r) for r in ok]
            ttft = percentiles([t.ttft_ms for t in timings if t.ttft_ms is not None])
            itl = percentiles([gap for t in timings for gap in t.itl_ms])
            delay = percentiles(delivery_delays_ms(ok))
            # Ground truth from the server's own stamps (same monotonic clock): what TTFT and ITL really were.
            ttft_err = percentiles([(r.chunk_ns[0] - r.chunk_server_ns[0]) / 1e6 for r in ok if r.chunk_server_ns])
            itl_err = percentiles([((b - a) - (sb - sa)) / 1e6 for r in ok
                                   for a, b, sa, sb in zip(r.chunk_ns, r.chunk_ns[1:], r.chunk_server_ns,
                                                           r.chunk_server_ns[1:])])
            print(f"c={concurrency:<3} n={len(ok)}/{len(records)}  TTFT p50 {ttft['p50']:.2f} p99 {ttft['p99']:.2f} "
                  f"(err p50 {ttft['p50'] - args.ttft_ms:+.2f}, p99 {ttft['p99'] - args.ttft_ms:+.2f})  "
                  f"ITL p50 {itl['p50']:.2f} p99 {itl['p99']:.2f} (err p50 {itl['p50'] - args.itl_ms:+.2f}, "
                  f"p99 {itl['p99'] - args.itl_ms:+.2f})  chunk delivery delay p50 {delay['p50']:.3f} "
                  f"p99 {delay['p99']:.3f} ms")
            print(f"       client error vs server-stamped truth: TTFT p50 {ttft_err['p50']:+.3f} p99 "
                  f"{ttft_err['p99']:+.3f} ms, ITL p50 {itl_err['p50']:+.3f} p99 {itl_err['p99']:+.3f} ms")


if __name__ == "__main__":
    main()
