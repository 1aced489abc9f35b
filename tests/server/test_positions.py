"""Column conversion between code points and the client's encodings (property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loss_lsp.server.positions import (
    UTF8,
    UTF16,
    UTF32,
    choose_encoding,
    from_client_column,
    to_client_column,
)

# Lines with ASCII, CJK, emoji (outside the BMP) and combining marks.
LINES = st.text(alphabet=st.sampled_from("ab (=)\t损失函数🔥😀é\u0301x"), max_size=40)
UNITS = {UTF8: lambda s: len(s.encode("utf-8")), UTF16: lambda s: len(s.encode("utf-16-le")) // 2, UTF32: len}


@given(LINES, st.data())
def test_round_trip_on_character_boundaries(line: str, data: st.DataObject) -> None:
    column = data.draw(st.integers(0, len(line)))
    for encoding, units in UNITS.items():
        client = to_client_column(line, column, encoding)
        assert client == units(line[:column])
        assert from_client_column(line, client, encoding) == column


@given(LINES, st.integers(0, 200))
def test_any_client_column_maps_inside_the_line(line: str, column: int) -> None:
    for encoding, units in UNITS.items():
        back = from_client_column(line, column, encoding)
        assert 0 <= back <= len(line)
        assert units(line[:back]) <= max(column, 0) or back == 0


def test_utf8_is_preferred_whenever_offered() -> None:
    assert choose_encoding(["utf-16", "utf-8"]) == UTF8
    assert choose_encoding(["utf-32", "utf-16"]) == UTF32
    assert choose_encoding(None) == UTF16
    assert choose_encoding(["latin-1"]) == UTF16
