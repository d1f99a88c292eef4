"""infer-harness: validation and load-testing harness for LLM inference servers.

Data flows one way: request spec -> timed record (client/) -> run store (results/) -> tables, reports, gates.
Engines (engines/) are launched or attached to and always driven over their OpenAI-compatible HTTP API.
"""

__version__ = "0.1.0"
