"""Blocking one-shot GETs for control paths (readiness, health, /metrics) — never for timed requests."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_get(url: str, timeout_s: float) -> tuple[int, bytes]:
    """(status, body); status 0 and an empty body when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read() if exc.fp is not None else b""
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, b""
