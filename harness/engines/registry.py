"""The engine kinds the harness knows: one adapter each, in a plain dict."""

from __future__ import annotations

from harness.engines import llamacpp, lmdeploy, sglang, vllm
from harness.engines.base import EngineAdapter
from harness.errors import ConfigError
from harness.testing import fake_adapter

ADAPTERS: dict[str, EngineAdapter] = {
    adapter.kind: adapter
    for adapter in (llamacpp.ADAPTER, vllm.ADAPTER, sglang.ADAPTER, lmdeploy.ADAPTER, fake_adapter.ADAPTER)
}

DEFAULT_KIND = "llamacpp"


def get_adapter(kind: str) -> EngineAdapter:
    try:
        return ADAPTERS[kind]
    except KeyError:
        known = ", ".join(k for k, a in ADAPTERS.items() if not a.instrument)
        raise ConfigError(f"unknown engine kind {kind!r}", f"use one of: {known}") from None
