"""The SSE parser accepts every valid framing, in any chunking, and flags what is broken.

Reference: WHATWG HTML, "Server-sent events", 9.2.6 (interpreting an event stream).  The
recorded streams in `data/` are real bytes: the reference server (`event:` + `data:`),
transformers serve (data only), the LiteLLM bridge (`[DONE]` sentinel) and codex-relay.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.wire.sse import SSEEvent, SSEParser, parse_all, parse_chunks

DATA = Path(__file__).parent / "data"
RECORDED = sorted(DATA.glob("*.sse"))
LINE_CHARS = st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))  # what a line may hold


def view(events: list[SSEEvent]) -> list[tuple[str, str, str | None, int | None, bool]]:
    return [(e.event, e.data, e.id, e.retry, e.had_event_field) for e in events]


def reframe(data: bytes, eol: bytes) -> bytes:
    """The same stream with every line end replaced by `eol` (CRLF, CR or LF)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", eol)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# -- line ends ------------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_every_line_end_gives_the_same_events(eol):
    raw = b"event: a\ndata: 1\n\n: comment\ndata: 2\ndata: 3\n\nid: 7\ndata: 4\n\n"
    events = parse_all(reframe(raw, eol))
    assert view(events) == [("a", "1", None, None, True), ("message", "2\n3", None, None, False),
                            ("message", "4", "7", None, False)]


def test_mixed_line_ends_in_one_stream():
    events = parse_all(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r")
    assert [e.data for e in events] == ["a\nb\nc", "d"]


@pytest.mark.parametrize("eol", [b"\r\n", b"\r", b"\n"], ids=["CRLF", "CR", "LF"])
def test_line_end_split_across_chunks_at_every_offset(eol):
    raw = reframe(b"data: x\n\ndata: y\n\n", eol)
    want = ["x", "y"]
    for cut in range(len(raw) + 1):
        assert [e.data for e in parse_chunks([raw[:cut], raw[cut:]])] == want, cut


def test_crlf_split_with_an_empty_chunk_between():
    # an empty chunk between the CR and the LF must not turn the LF into a blank line
    events = parse_chunks([b"data: a\r", b"", b"\ndata: b\r\n\r\n"])
    assert [e.data for e in events] == ["a\nb"]


def test_cr_then_crlf_is_a_line_and_a_blank_line():
    assert [e.data for e in parse_chunks([b"data: a\r", b"\r\n"])] == ["a"]


# -- fields ---------------------------------------------------------------------------------------


def test_one_optional_space_after_the_colon():
    events = parse_all(b"data:x\n\ndata:  y\n\ndata\n\n")
    assert [e.data for e in events] == ["x", " y", ""]


def test_unknown_fields_and_fields_without_colon_are_ignored():
    events = parse_all(b"foo: bar\nevent\ndata: 1\nbaz\n\n")
    assert view(events) == [("message", "1", None, None, False)]


def test_comments_are_kept_on_their_event_and_never_dispatched():
    events = parse_all(b": keep-alive\n\n: hello\ndata: 1\n\n:\n\n")
    assert [e.data for e in events] == ["1"]
    assert events[0].comments == [" hello"]


def test_a_block_without_data_is_not_dispatched():
    events = parse_all(b"event: ping\n\nid: 3\n\nretry: 100\n\ndata: real\n\n")
    assert view(events) == [("message", "real", "3", 100, False)]


def test_event_type_resets_after_each_event():
    events = parse_all(b"event: a\ndata: 1\n\ndata: 2\n\n")
    assert [(e.event, e.had_event_field) for e in events] == [("a", True), ("message", False)]


def test_empty_data_field_is_dispatched_as_empty_string():
    events = parse_all(b"data:\n\ndata:\ndata:\n\n")
    assert [e.data for e in events] == ["", "\n"]


def test_id_persists_and_nul_is_ignored():
    events = parse_all(b"id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid\ndata: d\n\n")
    assert [e.id for e in events] == ["1", "1", "1", ""]


@pytest.mark.parametrize("value,want", [(b"100", 100), (b"0", 0), (b"1.5", None), (b"-1", None),
                                        (b" 7", None), ("\u0661".encode(), None), (b"", None)])
def test_retry_takes_ascii_digits_only(value, want):
    events = parse_all(b"retry: " + value + b"\ndata: x\n\n")
    assert events[0].retry == want


def test_multi_line_data_holding_json():
    payload = {"type": "response.output_text.delta", "delta": "a\nb"}
    text = json.dumps(payload, indent=1).encode()
    raw = b"".join(b"data: " + line + b"\n" for line in text.split(b"\n")) + b"\n"
    assert json.loads(parse_all(raw)[0].data) == payload


# -- BOM, UTF-8 -----------------------------------------------------------------------------------


def test_bom_at_the_start_is_dropped_even_split_across_chunks():
    raw = b"\xef\xbb\xbfdata: x\n\n"
    for cut in range(len(raw) + 1):
        events = parse_chunks([raw[:cut], raw[cut:]])
        assert view(events) == [("message", "x", None, None, False)], cut


def test_bom_later_in_the_stream_is_not_dropped():
    events = parse_all(b"data: a\n\n\xef\xbb\xbfdata: b\n\n")
    assert [e.data for e in events] == ["a"]  # "\ufeffdata" is an unknown field name


def test_multibyte_characters_split_across_chunks():
    raw = "data: café ☕ 𝄞\n\n".encode()
    for cut in range(len(raw) + 1):
        parser = SSEParser()
        events = parser.feed_all([raw[:cut], raw[cut:]])
        assert [e.data for e in events] == ["café ☕ 𝄞"], cut
        assert not parser.invalid_utf8


def test_invalid_utf8_is_flagged_and_replaced():
    parser = SSEParser()
    events = parser.feed_all([b"data: a\xffb\n\n"])
    assert events[0].data == "a\ufffdb"
    assert parser.invalid_utf8


def test_a_real_replacement_character_is_not_invalid_utf8():
    parser = SSEParser()
    events = parser.feed_all(["data: \ufffd\n\n".encode()])
    assert events[0].data == "\ufffd"
    assert not parser.invalid_utf8


def test_truncated_utf8_at_the_end_is_flagged():
    parser = SSEParser()
    parser.feed_all([b"data: a\n\n", b"data: \xe2\x98"])
    assert parser.invalid_utf8


# -- end of stream --------------------------------------------------------------------------------


@pytest.mark.parametrize("tail,partial", [
    (b"data: cut", True),         # a line without its line end
    (b"data: cut\n", True),       # fields without the blank line
    (b"event: x\n", True),
    (b": comment\n", False),
    (b": unterminated comment", False),
    (b"", False),
])
def test_an_event_cut_off_at_the_end_is_discarded_and_reported(tail, partial):
    parser = SSEParser()
    events = parser.feed_all([b"data: whole\n\n", tail])
    assert [e.data for e in events] == ["whole"]
    assert parser.has_partial_event is partial


def test_partial_event_is_visible_before_close():
    parser = SSEParser()
    list(parser.feed(b"data: x\n"))
    assert parser.has_partial_event


# -- chunk independence on recorded streams -------------------------------------------------------


def test_recorded_streams_are_present_and_parse():
    assert len(RECORDED) >= 3
    for path in RECORDED:
        events = parse_all(path.read_bytes())
        assert len(events) > 10, path.name
        for e in events:
            if e.data != "[DONE]":
                assert isinstance(json.loads(e.data), dict), (path.name, e.data[:80])


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_recorded_stream_split_at_every_byte_offset(eol):
    """transformers serve's stream, in each framing, cut in two at every byte offset."""
    base = (DATA / "hfserve-stream.sse").read_bytes()
    raw = reframe(base, eol)
    want = view(parse_all(base))
    assert len(want) > 20
    for cut in range(len(raw) + 1):
        assert view(parse_chunks([raw[:cut], raw[cut:]])) == want, f"split at byte {cut}"


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(RECORDED) - 1),
       eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
       cuts=st.lists(st.floats(0, 1), max_size=40),
       bom=st.booleans())
def test_recorded_stream_in_any_chunking(index, eol, cuts, bom):
    base = RECORDED[index].read_bytes()
    want = view(parse_all(base))
    raw = (b"\xef\xbb\xbf" if bom else b"") + reframe(base, eol)
    chunks = split_at(raw, [int(c * len(raw)) for c in cuts])
    assert view(parse_chunks(chunks)) == want


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.tuples(st.text(alphabet=LINE_CHARS, max_size=12),
                                 st.lists(st.text(alphabet=LINE_CHARS, max_size=20), min_size=1, max_size=3)),
                       min_size=1, max_size=6),
       eol=st.sampled_from(["\n", "\r\n", "\r"]),
       cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_generated_streams_round_trip(events, eol, cuts):
    """Any events written in any valid framing come back, whatever the chunking."""
    text = ""
    for name, lines in events:
        if name:
            text += f"event: {name}{eol}"
        text += "".join(f"data: {line}{eol}" for line in lines) + eol
    raw = text.encode()
    got = parse_chunks(split_at(raw, [c % (len(raw) + 1) for c in cuts]))
    want = [(name or "message", "\n".join(lines)) for name, lines in events]
    assert [(e.event, e.data) for e in got] == want


# -- cost -----------------------------------------------------------------------------------------


def test_a_long_line_in_tiny_chunks_is_linear():
    raw = b"data: " + b"x" * 200_000 + b"\n\n"
    started = time.perf_counter()
    events = parse_chunks(raw[i:i + 7] for i in range(0, len(raw), 7))
    assert len(events[0].data) == 200_000
    assert time.perf_counter() - started < 5
