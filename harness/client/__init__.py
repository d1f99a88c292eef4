"""Client side: what to send (RequestSpec), how it is sent and timed (OpenAIClient), what was seen (RequestRecord)."""

from harness.client.batch import EngineClient, run_specs
from harness.client.openai_client import OpenAIClient
from harness.client.records import RequestRecord, RequestSpec

__all__ = ["EngineClient", "OpenAIClient", "RequestRecord", "RequestSpec", "run_specs"]
