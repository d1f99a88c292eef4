"""Workloads: prompts and request-spec builders (what to send), kept apart from how it is sent."""
