"""Incremental Server-Sent Events decoding, robust to how bytes happen to arrive.

Events may be split across reads, several may arrive in one read, lines may end in CRLF, and servers send
comment / keep-alive lines (starting with ':'). Only `data:` fields matter for the OpenAI API; a multi-line
data field is joined with newlines as the SSE spec says.
"""

from __future__ import annotations


class SSEDecoder:
    """Feed raw bytes, get back the data payload of every event completed so far."""

    __slots__ = ("_buffer", "_data_lines")

    def __init__(self) -> None:
        self._buffer = b""
        self._data_lines: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        events: list[str] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return events
            raw = self._buffer[:newline]
            self._buffer = self._buffer[newline + 1 :]
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:  # blank line: the event is complete
                if self._data_lines:
                    events.append("\n".join(self._data_lines))
                    self._data_lines = []
                continue
            if line.startswith(b":"):  # comment / keep-alive
                continue
            field, _, value = line.partition(b":")
            if field == b"data":
                text = value.decode("utf-8", errors="replace")
                self._data_lines.append(text[1:] if text.startswith(" ") else text)
            # event:, id:, retry: carry nothing the OpenAI API uses.

    def flush(self) -> list[str]:
        """At end of stream: an event not terminated by a blank line still counts (lenient, like browsers)."""
        events = self.feed(b"\n\n") if self._buffer or self._data_lines else []
        self._buffer = b""
        return events
