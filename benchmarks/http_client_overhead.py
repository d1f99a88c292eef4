"""Which HTTP library the timed client uses, decided by measurement: client CPU per request and per chunk.

Starts a minimal SSE server (aiohttp, its own process, 127.0.0.1) that writes N chunks as fast as it can,
then streams R requests through aiohttp and httpx and prints wall time and client CPU per request.
Per-chunk cost = (cost at N=200 - cost at N=1) / 199.

    .venv/bin/python benchmarks/http_client_overhead.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp

SERVER = r"""
import sys
from aiohttp import web
chunks = int(sys.argv[2])
async def handle(request):
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for _ in range(chunks):
        await response.write(b'data: {"choices":[{"index":0,"text":"word "}]}\n\n')
    await response.write(b"data: [DONE]\n\n")
    return response
app = web.Application()
app.router.add_post("/v1/completions", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def with_aiohttp(url: str, requests: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(requests):
            async with session.post(url, json={"prompt": "x", "stream": True}) as response:
                async for _data in response.content.iter_any():
                    time.perf_counter_ns()


async def with_httpx(url: str, requests: int) -> None:
    import httpx

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=None)) as client:
        for _ in range(requests):
            async with client.stream("POST", url, json={"prompt": "x", "stream": True}) as response:
                async for _data in response.aiter_raw():
                    time.perf_counter_ns()


def measure(run: Callable[[str, int], Awaitable[None]], url: str, requests: int) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(run(url, requests))
    return (time.perf_counter() - wall0) * 1e3 / requests, (time.process_time() - cpu0) * 1e3 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    cost: dict[tuple[str, int], float] = {}
    for chunks in (1, 200):
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(chunks)])
        try:
            time.sleep(1.5)
            url = f"http://127.0.0.1:{port}/v1/completions"
            for name, run in (("aiohttp", with_aiohttp), ("httpx", with_httpx)):
                wall_ms, cpu_ms = measure(run, url, args.requests)
                cost[(name, chunks)] = cpu_ms
                print(f"{name:<8} chunks={chunks:<4} wall {wall_ms:.3f} ms/request   "
                      f"client CPU {cpu_ms:.3f} ms/request")
        finally:
            server.terminate()
            server.wait()
    for name in ("aiohttp", "httpx"):
        per_chunk_us = (cost[(name, 200)] - cost[(name, 1)]) / 199 * 1e3
        print(f"{name:<8} client CPU per request {cost[(name, 1)]:.3f} ms, per chunk {per_chunk_us:.2f} us")


if __name__ == "__main__":
    main()
