"""An incremental Server-Sent Events parser (WHATWG HTML, "Server-sent events", 9.2.6).

Feed it bytes as they arrive, in chunks of any size; it yields complete events.  It handles
every valid form: LF, CR and CRLF line ends (also a CRLF split across chunks), comment lines
(`:`), multi-line `data:` (joined with "\n"), fields without a colon, one optional space after
the colon, `id:` (kept across events, ignored when it holds NUL) and `retry:` (ASCII digits
only), unknown fields (ignored), and one UTF-8 BOM at the very start.  A block without a `data`
field is not dispatched, and an event cut off by the end of the stream is discarded, as the
standard says; `partial_event_at_end` tells that it happened.

Invalid UTF-8 is decoded with replacement characters and reported (`invalid_utf8`), never
raised; a U+FFFD the server really sent is not mistaken for invalid UTF-8.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

_LINE_END = re.compile(r"\r\n|\r|\n")
_ESCAPED = re.compile(r"[\udc80-\udcff]")  # what `surrogateescape` makes of bytes that are not UTF-8
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class SSEEvent:
    event: str  # "message" when no event field was given
    data: str
    id: str | None = None  # the last event ID when the event was dispatched (None: never set)
    retry: int | None = None  # a valid `retry:` seen since the previous event
    comments: list[str] = field(default_factory=list)  # comment lines of this block, without the ":"
    had_event_field: bool = False


class SSEParser:
    """Bytes in (`feed`, then `close`), complete `SSEEvent`s out."""

    def __init__(self) -> None:
        # surrogateescape: bytes that are not UTF-8 become lone surrogates, which valid UTF-8
        # never decodes to, so they can be told apart from a real U+FFFD.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._held: list[str] = []  # the line under way, not yet ended
        self._started = False
        self._skip_lf = False  # the last line ended in a CR at the end of the input seen so far
        self._closed = False
        self._partial_at_close = False
        self.last_event_id: str | None = None
        self.invalid_utf8 = False
        self.bytes_seen = 0
        self.dispatched = 0
        self._reset_event()

    def _reset_event(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._has_data = False
        self._retry: int | None = None
        self._comments: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[SSEEvent]:
        """The events completed by `chunk` (a generator: iterate it)."""
        self.bytes_seen += len(chunk)
        yield from self._consume(self._decoder.decode(chunk))

    def close(self) -> Iterator[SSEEvent]:
        """End of stream.  An event without its blank line is discarded, as the standard says."""
        yield from self._consume(self._decoder.decode(b"", final=True))
        self._partial_at_close = self._pending()
        self._closed = True
        self._held = []
        self._reset_event()

    def feed_all(self, chunks: Iterable[bytes]) -> list[SSEEvent]:
        """Every event of a whole stream given as chunks (then closed)."""
        events: list[SSEEvent] = []
        for chunk in chunks:
            events.extend(self.feed(chunk))
        events.extend(self.close())
        return events

    @property
    def has_partial_event(self) -> bool:
        """Whether an event was under way (fields without their blank line) at the end of the stream."""
        return self._partial_at_close if self._closed else self._pending()

    partial_event_at_end = has_partial_event

    def _pending(self) -> bool:
        unterminated = "".join(self._held)
        return bool(unterminated and not unterminated.startswith(":")) or self._has_data or bool(self._event)

    def _consume(self, text: str) -> Iterator[SSEEvent]:
        if not text:
            return
        if _ESCAPED.search(text):
            self.invalid_utf8 = True
            text = _ESCAPED.sub("\ufffd", text)
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]  # one BOM at the very start of the stream is not content
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]  # the LF of a CRLF split across chunks
                if not text:
                    return
        if _LINE_END.search(text) is None:
            self._held.append(text)  # no line ends yet: hold it, join once the line is complete
            return
        lines = _LINE_END.split("".join(self._held) + text)
        self._held = [lines.pop()]  # what follows the last line end: an unterminated line
        if text.endswith("\r"):
            self._skip_lf = True  # a CR at the end of the input may be half of a CRLF
        for line in lines:
            event = self._line(line)
            if event is not None:
                yield event

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self._comments.append(line[1:])
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and _DIGITS.fullmatch(value):
            self._retry = int(value)
        return None  # any other field is ignored

    def _dispatch(self) -> SSEEvent | None:
        if not self._has_data:
            retry = self._retry
            self._reset_event()  # a block with no data field is not dispatched
            self._retry = retry  # but its retry field was seen: keep it for the next event
            return None
        ev = SSEEvent(event=self._event or "message", data="\n".join(self._data), id=self.last_event_id,
                      retry=self._retry, comments=self._comments, had_event_field=bool(self._event))
        self.dispatched += 1
        self._reset_event()
        return ev


def parse_all(data: bytes, chunk_size: int | None = None) -> list[SSEEvent]:
    """Parse a whole byte string (optionally re-chunked, to test chunk independence)."""
    if chunk_size:
        return SSEParser().feed_all(data[i:i + chunk_size] for i in range(0, len(data), chunk_size))
    return SSEParser().feed_all([data])


def parse_chunks(chunks: Iterable[bytes]) -> list[SSEEvent]:
    """Parse a stream given as a sequence of chunks."""
    return SSEParser().feed_all(chunks)
