"""The server's message framing (loss_lsp/server/transport.py) on byte streams no test through
a pipe can produce cheaply: every split of the stream into reads, a message claiming more than
the size limit, a header glued to the end of garbage."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from loss_lsp.server.transport import FrameParser, TooLarge


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(body) + body


MESSAGES = [{"jsonrpc": "2.0", "id": n, "method": "textDocument/hover", "params": {"n": "é" * n}} for n in range(6)]
STREAM = b"".join(frame(m) for m in MESSAGES)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=40))
def test_any_split_of_the_stream_gives_the_same_messages(cuts: list[int]) -> None:
    parser = FrameParser()
    bodies: list[bytes | TooLarge] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(STREAM)]:
        bodies += parser.feed(STREAM[start:cut])
        start = cut
    assert [json.loads(b) for b in bodies if isinstance(b, bytes)] == MESSAGES


def test_a_message_over_the_limit_is_skipped_without_being_kept() -> None:
    parser = FrameParser(max_body=100)
    oversized = b"Content-Length: 5000\r\n\r\n" + b"x" * 5000
    out = parser.feed(oversized[:2000])
    assert out == [TooLarge(5000)]
    assert len(parser._buffer) == 0  # skipped bytes are dropped as they arrive
    out = parser.feed(oversized[2000:] + frame(MESSAGES[1]))
    assert [json.loads(b) for b in out] == [MESSAGES[1]]


def test_garbage_before_a_header_and_a_header_inside_a_line() -> None:
    parser = FrameParser()
    stream = b"\x00\xffnoise\r\n" + b"Content-Length: x\r\n\r\n{}" + frame(MESSAGES[2]) + b"trailing}" + frame(MESSAGES[3])
    out = parser.feed(stream)
    assert [json.loads(b) for b in out if isinstance(b, bytes)] == [MESSAGES[2], MESSAGES[3]]


def test_a_long_line_without_a_line_end_does_not_grow_the_buffer() -> None:
    parser = FrameParser()
    for _ in range(20):
        assert parser.feed(b"z" * 100_000) == []
    assert len(parser._buffer) < 200_000
    assert [json.loads(b) for b in parser.feed(b"\r\n" + frame(MESSAGES[4]))] == [MESSAGES[4]]
