"""The embedded CPU engine's numbers: build time (from the cache), time to ready and to stop, output tok/s.

    .venv/bin/python benchmarks/cpu_engine.py [--starts 5] [--requests 16] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from harness.engines.config import EngineConfig
from harness.engines.launch import launch_engine
from harness.engines.llamacpp_build import cached_server_path
from harness.load.simple import LoadSettings, run_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    build_seconds = cached_server_path().parent / "build-seconds.txt"
    if build_seconds.is_file():
        print(f"build time (recorded when this machine built it): {float(build_seconds.read_text()):.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        ready, stop = [], []
        for _ in range(args.starts):
            with launch_engine(EngineConfig(kind="llamacpp"), Path(tmp)) as handle:
                pass
            assert handle.ready_s is not None and handle.stop_s is not None
            ready.append(handle.ready_s)
            stop.append(handle.stop_s)
        print(f"time to ready over {args.starts} starts: median {statistics.median(ready):.2f} s, "
              f"max {max(ready):.2f} s; time to stop: median {statistics.median(stop):.3f} s")
        with launch_engine(EngineConfig(kind="llamacpp"), Path(tmp)) as handle:
            for concurrency in (1, 4):
                settings = LoadSettings(concurrency, args.requests, args.max_tokens)
                summary = run_load(handle, settings, Path(tmp) / f"c{concurrency}")
                itl, ttft = summary["itl_ms"], summary["ttft_ms"]
                assert isinstance(itl, dict) and isinstance(ttft, dict)
                print(f"concurrency {concurrency}: {summary['output_tokens_per_s']:.1f} output tok/s aggregate, "
                      f"{summary['requests_per_s']:.2f} req/s, TTFT p50 {ttft['p50']:.0f} ms, "
                      f"ITL p50 {itl['p50']:.1f} ms, errors {summary['errors']}")


if __name__ == "__main__":
    main()
