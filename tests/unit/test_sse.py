"""SSE decoding survives whatever way the bytes arrive."""

from __future__ import annotations

import json

from harness.client.sse import SSEDecoder

STREAM = (
    b'data: {"a": 1}\n\n'
    b": keep-alive\n\n"
    b'data: {"a": 2}\r\n\r\n'
    b"event: message\nid: 7\ndata: line one\ndata: line two\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = ['{"a": 1}', '{"a": 2}', "line one\nline two", "[DONE]"]


def test_whole_stream_in_one_read() -> None:
    assert SSEDecoder().feed(STREAM) == EXPECTED


def test_every_split_point_gives_the_same_events() -> None:
    for cut in range(1, len(STREAM)):
        decoder = SSEDecoder()
        events = decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:]) + decoder.flush()
        assert events == EXPECTED, cut


def test_byte_by_byte() -> None:
    decoder = SSEDecoder()
    events = [event for byte in STREAM for event in decoder.feed(bytes([byte]))]
    assert events == EXPECTED


def test_data_without_space_and_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data:{}\n\ndata: tail") == ["{}"]
    assert decoder.flush() == ["tail"]


def test_multibyte_utf8_split_across_reads() -> None:
    payload = json.dumps({"text": "héllo ✓"}, ensure_ascii=False).encode()
    raw = b"data: " + payload + b"\n\n"
    cut = raw.index("✓".encode()) + 1  # inside the 3-byte character
    decoder = SSEDecoder()
    events = decoder.feed(raw[:cut]) + decoder.feed(raw[cut:])
    assert json.loads(events[0])["text"] == "héllo ✓"
