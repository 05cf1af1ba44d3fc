"""An incremental Server-Sent Events parser (WHATWG HTML, "Server-sent events", 9.2.6).

Feed it bytes as they arrive, in chunks of any size; it yields complete events.  It handles
every valid form: LF, CR and CRLF line ends (also split across chunks), comment lines (`:`),
multi-line `data:` (joined with "\n"), fields without a colon, one optional space after the
colon, `id:`/`retry:`, and a UTF-8 BOM at the start.  Invalid UTF-8 is decoded with
replacement characters and reported, never raised.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class SSEEvent:
    event: str  # "message" when no event field was given
    data: str
    id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    had_event_field: bool = False


class SSEParser:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._pending_cr = False
        self._reset_event()
        self.last_event_id: str | None = None
        self.invalid_utf8 = False
        self.bytes_seen = 0

    def _reset_event(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._has_data = False
        self._retry: int | None = None
        self._comments: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[SSEEvent]:
        self.bytes_seen += len(chunk)
        text = self._decoder.decode(chunk)
        if "\ufffd" in text:
            self.invalid_utf8 = True
        yield from self._consume(text)

    def close(self) -> Iterator[SSEEvent]:
        """End of stream: an event without its blank line is discarded, as the standard says."""
        text = self._decoder.decode(b"", final=True)
        yield from self._consume(text)
        self._buffer = ""

    @property
    def has_partial_event(self) -> bool:
        return bool(self._buffer.strip()) or self._has_data or bool(self._event)

    def _consume(self, text: str) -> Iterator[SSEEvent]:
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the LF of a CRLF split across chunks
        self._pending_cr = False
        self._buffer += text
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return
            start, end = cut
            line = self._buffer[:start]
            if end == len(self._buffer) and self._buffer[start] == "\r":
                self._pending_cr = True  # a CR at the end of the buffer may be half a CRLF
            self._buffer = self._buffer[end:]
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
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._has_data:
            self._reset_event()  # an event with no data is not dispatched
            return None
        ev = SSEEvent(event=self._event or "message", data="\n".join(self._data), id=self.last_event_id,
                      retry=self._retry, comments=self._comments, had_event_field=bool(self._event))
        self._reset_event()
        return ev


def _line_end(buf: str) -> tuple[int, int] | None:
    for i, ch in enumerate(buf):
        if ch == "\n":
            return i, i + 1
        if ch == "\r":
            if i + 1 < len(buf) and buf[i + 1] == "\n":
                return i, i + 2
            return i, i + 1
    return None


def parse_all(data: bytes, chunk_size: int | None = None) -> list[SSEEvent]:
    """Parse a whole byte string (optionally re-chunked, to test chunk independence)."""
    parser = SSEParser()
    events: list[SSEEvent] = []
    if chunk_size:
        for i in range(0, len(data), chunk_size):
            events.extend(parser.feed(data[i:i + chunk_size]))
    else:
        events.extend(parser.feed(data))
    events.extend(parser.close())
    return events
