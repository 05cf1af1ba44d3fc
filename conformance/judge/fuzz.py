"""Property-based request generation for the fuzz requirements (ROBUST-FUZZ-001 / -002).

Requests are generated with hypothesis from the request schema (`CreateResponse` in `schemas/`):
`SchemaStrategies` turns the subset of JSON Schema those properties use ($ref, anyOf/oneOf, enum,
string, number and integer bounds, boolean, objects, arrays) into strategies, so bounds and enums
come from the spec, not from this file.  On top of it:

- `valid_requests()`: valid but unusual requests — emoji, CJK, right-to-left and combining text,
  empty instructions, metadata with up to 16 keys at the length limits, temperature 0 and 2,
  max_output_tokens 16, long input, input as a list of several messages — plus fixed explicit
  examples of each, so every run covers them;
- `invalid_requests()`: a valid request with one value of a JSON type the schema does not allow
  and no lenient parser coerces (a word for a number, an object for a string, ...) or a value
  outside an enum (message role, item type).

`run()` sends them one by one (in batches under `--concurrency`) within a count and time budget,
seeded (`--fuzz-seed`) so a run is replayed exactly, and returns every finding — 5xx, no answer,
dropped connection, a garbled body or stream, or the wrong status class — each with a
copy-pasteable `curl` reproducer.  Findings are collected, not raised, so hypothesis neither stops
at the first nor re-sends requests to shrink.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from conformance.judge.checks import ConformanceFailure, show
from conformance.judge.schema import Schemas
from conformance.wire.ahead import Together
from conformance.wire.guard import LIVENESS
from conformance.wire.http import CURRENT, ApiClient, Evidence, Exchange, record

DEFAULT_SECONDS = 60.0
MAX_TRANSPORT_FAILURES = 3  # no answer / stalled / dropped: after this many the run stops (the rest would wait)
LONG_TEXT = 1500  # characters: long for a prompt, far inside any context window

# Text a careful server handles and a careless one may not: emoji (outside the BMP, with ZWJ
# sequences and skin tones), CJK, right-to-left, combining marks, typographic quotes, tabs and
# newlines.  No NUL or other control characters, no unassigned code points: valid, not hostile.
UNUSUAL_SNIPPETS = (
    "👋🌍", "👩🏽‍💻", "🏳️‍🌈", "日本語で答えて", "中文", "한국어", "مرحبا بالعالم", "שלום", "Ελληνικά",
    "e\u0301\u0302", "Z\u0351\u0352\u0353", "“quoted”", "‘single’", "tab\there", "two\nlines", "ß ﬁ Ⅻ",
    "∑∫√∞", "\u200bzero\u200bwidth", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "🙂" * 3,
)
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn"))


def unusual_text(min_size: int = 1, max_size: int = 120) -> st.SearchStrategy[str]:
    """Short text mixing ASCII words with the unusual snippets and arbitrary printable code points."""
    words = st.sampled_from(("Say", "hello", "briefly", "please", "in", "one", "word", "OK", "?", "!", "42"))
    piece = st.one_of(words, st.sampled_from(UNUSUAL_SNIPPETS), st.text(_CHARS, min_size=1, max_size=8))
    text = st.lists(piece, min_size=1, max_size=12).map(" ".join)
    return text.map(lambda s: fit(s, max_size)).filter(lambda s: len(s) >= min_size)


def fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters however a server counts them: code points (Python, JSON
    Schema) or UTF-16 units (JavaScript, Java; an emoji counts 2). The spec's "maximum length of 64
    characters" does not say which, so a valid request must be valid under both."""
    text = text[:limit]
    while len(text.encode("utf-16-le")) // 2 > limit:
        text = text[:-1]
    return text


def long_text(size: int = LONG_TEXT // 2) -> st.SearchStrategy[str]:
    return unusual_text(8, 120).map(lambda s: ((s + " ") * (size // (len(s) + 1) + 1))[:size])


class SchemaStrategies:
    """A small JSON Schema -> hypothesis strategy generator, for the subset CreateResponse uses."""

    def __init__(self, defs: dict[str, Any], text: Callable[[int], st.SearchStrategy[str]] | None = None,
                 max_items: int = 4) -> None:
        self.defs = defs
        self.text = text or (lambda limit: unusual_text(1, min(limit, 120)))
        self.max_items = max_items

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            target = self.defs[schema["$ref"].rsplit("/", 1)[-1]]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def variants(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The non-null alternatives of a schema (itself when it is not a union)."""
        schema = self.resolve(schema)
        union = schema.get("anyOf") or schema.get("oneOf")
        if not union:
            return [schema]
        out: list[dict[str, Any]] = []
        for variant in union:
            out.extend(v for v in self.variants(variant) if v.get("type") != "null")
        return out

    def types(self, schema: dict[str, Any]) -> set[str]:
        """The JSON types a schema allows (through refs and unions)."""
        out: set[str] = set()
        for v in self.variants(schema):
            t = v.get("type")
            out.update(t if isinstance(t, list) else [t] if t else [])
            if "enum" in v:
                out.update(_json_type(e) for e in v["enum"])
        return out

    def properties(self, definition: str) -> dict[str, Any]:
        """Every property a definition declares, through allOf."""
        props: dict[str, Any] = {}
        schema = self.resolve({"$ref": f"#/$defs/{definition}"})
        for part in schema.get("allOf", [schema]):
            part = self.resolve(part)
            if "allOf" in part:
                for sub in part["allOf"]:
                    props.update(self.resolve(sub).get("properties", {}))
            props.update(part.get("properties", {}))
        return props

    def strategy(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        variants = self.variants(schema)
        if len(variants) > 1:
            return st.one_of(*(self.strategy(v, depth) for v in variants))
        schema = variants[0]
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if kind == "string":
            return self.text(schema.get("maxLength", 200))
        if kind in ("number", "integer"):
            low, high = schema.get("minimum"), schema.get("maximum")
            ends = [v for v in (low, high) if v is not None]
            inner = (st.integers(low, high) if kind == "integer"
                     else st.floats(low, high, allow_nan=False, allow_infinity=False))
            return st.one_of(st.sampled_from(ends), inner) if ends else inner
        if kind == "boolean":
            return st.booleans()
        if kind == "array" and depth < 3:
            return st.lists(self.strategy(schema.get("items", {}), depth + 1), max_size=self.max_items)
        if kind == "object" and depth < 3:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                return st.dictionaries(self.text(64), self.strategy(extra, depth + 1), max_size=self.max_items)
            required = set(schema.get("required", []))
            props = schema.get("properties", {})
            return st.fixed_dictionaries(
                {k: self.strategy(v, depth + 1) for k, v in props.items() if k in required},
                optional={k: self.strategy(v, depth + 1) for k, v in props.items() if k not in required})
        raise ValueError(f"schema not supported by the fuzz generator: {json.dumps(schema)[:200]}")


def metadata_limits(description: str) -> tuple[int, int, int]:
    """(pairs, key length, value length) as the Metadata schema's description states them."""
    pairs = re.search(r"Set of (\d+) key-value pairs", description)
    key = re.search(r"Keys are strings with a maximum length of (\d+)", description)
    value = re.search(r"Values are strings\s+with a maximum length of (\d+)", description)
    return (int(pairs.group(1)) if pairs else 16, int(key.group(1)) if key else 64,
            int(value.group(1)) if value else 512)


@dataclass
class RequestSpace:
    """The request schema's facts the generators use (all read from `schemas/`)."""

    gen: SchemaStrategies
    props: dict[str, Any]
    roles: list[str]
    metadata: tuple[int, int, int]

    @classmethod
    def load(cls) -> RequestSpace:
        gen = SchemaStrategies(Schemas.load().defs)
        props = gen.properties("CreateResponse")
        message = gen.resolve({"$ref": "#/$defs/EasyInputMessage"})
        roles = list(message["properties"]["role"]["enum"])
        meta = next(v for v in gen.variants(props["metadata"]) if v.get("type") == "object")
        return cls(gen, props, roles, metadata_limits(meta.get("description", "")))

    def field(self, name: str, **override: Any) -> st.SearchStrategy[Any]:
        """A strategy for a top-level property, its (non-null) schema narrowed by `override`."""
        schema = next(v for v in self.gen.variants(self.props[name]) if v.get("type") != "null")
        return self.gen.strategy({**schema, **override})


def _messages(space: RequestSpace) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Several messages in an order every chat template takes: system/developer first, then user and
    assistant turns, ending with a user turn; content as a string or as input_text parts."""
    leading = [r for r in space.roles if r in ("system", "developer")]
    content = st.one_of(unusual_text(), st.lists(unusual_text().map(lambda t: {"type": "input_text", "text": t}),
                                                 min_size=1, max_size=3))

    @st.composite
    def build(draw: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if leading and draw(st.booleans()):
            out.append({"type": "message", "role": draw(st.sampled_from(leading)), "content": draw(unusual_text())})
        for _ in range(draw(st.integers(0, 2))):
            out.append({"role": "user", "content": draw(content)})
            out.append({"role": "assistant", "content": draw(unusual_text())})
        out.append({"type": "message", "role": "user", "content": draw(content)})
        return out

    return build()


def valid_requests(model: str, streaming: bool = True,
                   space: RequestSpace | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Valid, unusual CreateResponse bodies limited to parameters every server implements."""
    space = space or RequestSpace.load()
    pairs, key_len, value_len = space.metadata
    metadata = st.dictionaries(unusual_text(1, key_len), unusual_text(0, value_len), max_size=pairs)
    optional = {
        "instructions": st.one_of(st.just(""), space.field("instructions")),
        "temperature": space.field("temperature"),
        # top_p 0 is allowed by the schema but many servers take it as a degenerate value; keep > 0
        "top_p": space.field("top_p", minimum=0.01),
        "metadata": metadata,
    }
    if streaming:
        optional["stream"] = st.just(True)
    return st.fixed_dictionaries(
        {"model": st.just(model),
         "input": st.one_of(unusual_text(), long_text(), _messages(space)),
         # as small as the spec allows, with a little room: the output itself is not judged
         "max_output_tokens": space.field("max_output_tokens", maximum=48)},
        optional=optional)


def explicit_valid(model: str, space: RequestSpace | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Named valid-but-unusual requests every run sends (so every run covers each kind)."""
    space = space or RequestSpace.load()
    pairs, key_len, value_len = space.metadata
    low = space.props["max_output_tokens"]
    minimum = next(v for v in space.gen.variants(low) if v.get("type") == "integer").get("minimum", 16)
    temps = next(v for v in space.gen.variants(space.props["temperature"]) if v.get("type") == "number")

    def body(**kw: Any) -> dict[str, Any]:
        return {"model": model, "input": "Say hello.", "max_output_tokens": minimum, **kw}

    meta = {f"k{i:02d}" + "_" * (key_len - 3): ("v" * value_len if i == 0 else f"value {i} ✓") for i in range(pairs)}
    return [
        ("emoji and non-BMP input", body(input="👋🌍 Say hi back with one emoji 🙂 (👩🏽‍💻🏳️‍🌈)")),
        ("empty instructions", body(instructions="")),
        (f"metadata with {pairs} keys at the length limits", body(metadata=meta)),
        (f"max_output_tokens {minimum}", body(input="Count from one to one hundred in words.")),
        (f"temperature {temps.get('minimum', 0)}", body(temperature=temps.get("minimum", 0))),
        (f"temperature {temps.get('maximum', 2)}", body(temperature=temps.get("maximum", 2))),
        (f"long input ({LONG_TEXT} characters)",
         body(input=("Please read this and then say OK. " * 60)[:LONG_TEXT])),
        ("input as several messages", body(input=[
            {"type": "message", "role": "developer", "content": "Answer in one word."},
            {"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "input_text", "text": "日本語で一言。"},
                                         {"type": "input_text", "text": "مرحبا"}]}])),
        ("combining marks, RTL and zero-width text", body(input="e\u0301\u0302 שלום \u200b Z\u0351 ﬁ — say OK")),
    ]


# -- invalid requests ---------------------------------------------------------------------------

# Values of a JSON type no lenient parser coerces into the type the schema asks for (pydantic's lax
# mode turns "0.5" into 0.5 and "yes" into True, so such strings are not used).
NOT_A_NUMBER = ("hot", "", {"value": 1}, [0.5])
NOT_A_STRING = (42, {"text": "hi"}, [3])
NOT_A_BOOLEAN = ("maybe", {"on": True}, [True])
NOT_AN_OBJECT = ("a string", 42, ["k", "v"])


@dataclass(frozen=True)
class Mutation:
    where: str  # JSON path in the request
    apply: Callable[[dict[str, Any], Any], None]
    values: tuple[Any, ...]
    why: str


def _set(key: str) -> Callable[[dict[str, Any], Any], None]:
    def apply(body: dict[str, Any], value: Any) -> None:
        body[key] = value
    return apply


def _set_message(key: str) -> Callable[[dict[str, Any], Any], None]:
    def apply(body: dict[str, Any], value: Any) -> None:
        body["input"] = [{"type": "message", "role": "user", "content": "Say hello."}]
        body["input"][0][key] = value
    return apply


def mutations(space: RequestSpace | None = None, skip: tuple[str, ...] = ()) -> list[Mutation]:
    """One wrong value per place, the wrong type chosen from what the schema allows there; `skip`
    leaves out parameters of features the server does not claim (e.g. "store")."""
    space = space or RequestSpace.load()
    out: list[Mutation] = []
    for key in ("temperature", "top_p", "max_output_tokens", "instructions", "metadata", "store", "model"):
        if key in skip:
            continue
        types = space.gen.types(space.props[key])
        if types & {"number", "integer"}:
            values, why = NOT_A_NUMBER, "a number"
        elif "boolean" in types:
            values, why = NOT_A_BOOLEAN, "a boolean"
        elif "object" in types:
            values, why = NOT_AN_OBJECT, "an object"
        else:
            values, why = NOT_A_STRING, "a string"
        out.append(Mutation(f"$.{key}", _set(key), values, f"the schema allows only {why} (or null)"))
    out.append(Mutation("$.metadata", _set("metadata"), ({"k": 42}, {"k": {"nested": "x"}}),
                        "metadata values are strings"))
    input_types = space.gen.types(space.props["input"])
    assert input_types == {"string", "array"}, f"input is no longer a string or an array: {input_types}"
    out.append(Mutation("$.input", _set("input"), (42, {"text": "hi"}, [42], True),
                        "input is a string or an array of input items"))
    roles = set(space.roles)
    out.append(Mutation("$.input[0].role", _set_message("role"),
                        tuple(r for r in ("wizard", "robot", "USER") if r not in roles),
                        f"role is one of {sorted(roles)}"))
    out.append(Mutation("$.input[0].type", _set_message("type"), ("no_such_item", "messages"),
                        "type names a known input item type"))
    out.append(Mutation("$.input[0].content", _set_message("content"), (42, {"text": "hi"}, True),
                        "content is a string or an array of content parts"))
    return out


def invalid_requests(model: str, space: RequestSpace | None = None,
                     skip: tuple[str, ...] = ()) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(what is wrong, body): a small valid request with exactly one invalid value."""
    muts = mutations(space, skip)

    @st.composite
    def build(draw: Any) -> tuple[str, dict[str, Any]]:
        m = draw(st.sampled_from(muts))
        value = draw(st.sampled_from(m.values))
        body: dict[str, Any] = {"model": model, "input": "Say hello.", "max_output_tokens": 16}
        m.apply(body, value)
        return f"{m.where} = {json.dumps(value, ensure_ascii=False)} ({m.why})", body

    return build()


# -- running ------------------------------------------------------------------------------------


@dataclass
class Finding:
    label: str
    problem: str
    exchange: Exchange | None

    def text(self, reproducer: bool = True, limit: int = 1500) -> str:
        repro = ""
        if reproducer and self.exchange is not None:
            curl = self.exchange.curl()
            repro = (f"\nReproduce with: {curl}" if len(curl) <= limit else
                     f"\n(reproducer of {len(curl)} characters: in the evidence, or replay with the seed)")
        return f"{self.label}\n{self.problem}{repro}"

    def summary(self) -> str:
        first = self.problem.split("\n", 1)[0].removeprefix("Received: ").split(' "', 1)[0]
        return f"{self.label}: {first[:80]}"


@dataclass
class FuzzRun:
    planned: int
    sent: int = 0
    findings: list[Finding] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    transport_failures: int = 0  # findings where the server did not answer, stalled or dropped the connection
    alone_since: str | None = None  # why the run went one request at a time (concurrency caused a failure)
    batch: int = 1  # requests sent at once (--concurrency)


def check_valid(api: ApiClient, body: dict[str, Any]) -> str | None:
    """None when a valid request is answered properly; else what went wrong (Received/Expected)."""
    if body.get("stream"):
        reply = api.stream("responses", body)
        if not 200 <= reply.status < 300:
            return (f"Received: HTTP {reply.status} {show(reply.raw[:600])}\n"
                    "Expected: HTTP 2xx with an event stream (the request is valid per CreateResponse)")
        if reply.error or reply.partial_event_at_end:
            why = reply.error or "the stream ended in the middle of an event"
            return f"Received: {why}\nExpected: the whole stream, to its end"
        return None
    reply = api.post("responses", body)
    if not 200 <= reply.status < 300:
        return (f"Received: HTTP {reply.status} {show(reply.body[:600])}\n"
                "Expected: HTTP 2xx with the response object (the request is valid per CreateResponse)")
    try:
        reply.json_object("the body of a 2xx reply")
    except ConformanceFailure as exc:
        return str(exc)
    return None


def check_invalid(api: ApiClient, body: dict[str, Any]) -> str | None:
    reply = api.post("responses", body)
    if 400 <= reply.status < 500:
        return None
    verdict = "accepted" if reply.status < 400 else "answered with a server error"
    return (f"Received: HTTP {reply.status} {show(reply.body[:400])} (the invalid request was {verdict})\n"
            "Expected: HTTP 4xx with an error object")


def run(api: ApiClient, strategy: st.SearchStrategy[Any], judge: Callable[[ApiClient, Any], str | None],
        examples: int, fuzz_seed: int, explicit: Sequence[tuple[str, Any]] = (),
        seconds: float = DEFAULT_SECONDS, label: Callable[[Any], tuple[str, Any]] | None = None,
        together: Together | None = None) -> FuzzRun:
    """Send the explicit examples, then `examples` generated ones; stop starting new ones after `seconds`.

    `judge(api, body)` returns None or the problem; a transport failure (no answer, dropped
    connection) is a finding too.  Generated values pass through `label` to get (description, body).

    With `together.limit` > 1 (`--concurrency`) the requests go in batches of that many at once (they
    do not depend on each other); whether to stop is decided between batches only, so the same
    requests are sent whatever the timing (a replay of a recording meets what was recorded).  A
    request that failed with others in flight is sent again alone, and only a failure alone is a
    finding: a server that mishandles concurrent requests (ROBUST-LOAD-* judge that) or refuses them
    (429) cannot fail a fuzz requirement; it ends sending together for the rest of the run
    (`together.serial`).  `wire.guard` names every request in flight when a server broke.
    """
    drawn = list(explicit)
    if examples > 0:
        _draw(strategy, examples, fuzz_seed, lambda v: drawn.append(label(v) if label else ("generated", v)))
    result = FuzzRun(planned=len(drawn))
    started = time.monotonic()
    limit = result.batch = together.limit if together is not None else 1
    at = 0
    while at < len(drawn):
        if time.monotonic() - started > seconds or LIVENESS.dead or \
                result.transport_failures >= MAX_TRANSPORT_FAILURES:  # each more would only wait out a timeout
            result.stopped_early = True
            if LIVENESS.dead:  # no more requests to a server that is gone: one finding states why
                result.findings.append(Finding(f"after example {at}", f"Received: {LIVENESS.dead}\n"
                                               "Expected: an answer to every request", None))
            break
        batch = list(enumerate(drawn[at:at + limit], start=at + 1))
        at += len(batch)
        result.sent += len(batch)
        if len(batch) == 1:
            number, (desc, body) = batch[0]
            _keep(result, f"example {number} ({desc})", *_judged(api, judge, body))
            continue
        sent = _send_together(api, judge, [body for _, (_, body) in batch])
        for exchanges in (ex for _, ex in sent):  # the test's evidence, in example order
            for ex in exchanges:
                record(ex)
        flipped = []
        for (number, (desc, body)), (problem, exchanges) in zip(batch, sent, strict=True):
            if problem is None:
                continue
            tag = f"example {number} ({desc})"
            if LIVENESS.dead or result.transport_failures >= MAX_TRANSPORT_FAILURES:
                # not sent again alone (the server is gone, or the run stops): said as found
                _keep(result, f"{tag}, with {len(batch) - 1} other requests in flight", problem,
                      exchanges[-1] if exchanges else None)
                continue
            alone, last = _judged(api, judge, body)
            if alone is None:
                flipped.append(tag)
            else:
                _keep(result, tag, alone, last)
        if flipped and together is not None:
            why = (f"fuzz: {', '.join(flipped[:3])}{' ...' if len(flipped) > 3 else ''} failed with "
                   f"{len(batch) - 1} other requests in flight but not alone: the server mishandles concurrent "
                   "requests (ROBUST-LOAD-* judge that)")
            together.serial(why)
            result.alone_since = why
            limit = 1
    result.seconds = time.monotonic() - started
    return result


def _judged(api: ApiClient, judge: Callable[[ApiClient, Any], str | None], body: Any) -> tuple[str | None,
                                                                                               Exchange | None]:
    """(the problem or None, the last exchange) of one request judged on this thread."""
    evidence = CURRENT.get()
    before = len(evidence.exchanges) if evidence is not None else 0
    try:
        problem = judge(api, body)
    except ConformanceFailure as exc:  # no answer, dropped connection, stalled: all findings
        problem = f"Received: {exc}\nExpected: an answer"
    last = evidence.exchanges[-1] if evidence is not None and len(evidence.exchanges) > before else None
    return problem, last


def _keep(result: FuzzRun, tag: str, problem: str | None, last: Exchange | None) -> None:
    if not problem:
        return
    result.findings.append(Finding(tag, problem, last))
    if last is not None and last.error and "the error body" not in last.error:
        result.transport_failures += 1


def _send_together(api: ApiClient, judge: Callable[[ApiClient, Any], str | None],
                   bodies: list[Any]) -> list[tuple[str | None, list[Exchange]]]:
    """Each body judged on its own thread at once, with its own exchanges: (problem, exchanges) in order.
    Daemon threads joined here: every request has its own deadline (`wire.guard`)."""
    out: list[tuple[str | None, list[Exchange]]] = [(None, []) for _ in bodies]

    def one(i: int, body: Any) -> None:
        evidence = Evidence(CURRENT.get().test if CURRENT.get() is not None else None)
        CURRENT.set(evidence)  # in this thread's copy of the context
        problem, _ = _judged(api, judge, body)
        out[i] = (problem, evidence.exchanges)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(one, i, body), daemon=True,
                                name=f"rc-fuzz-{i}") for i, body in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@contextlib.contextmanager
def _seed_alone_decides() -> Iterator[None]:
    """Hypothesis (>= 6.131) mixes the literals of every loaded local module into what it draws, so the same
    seed sent other requests when other modules were loaded (an embedded server, a replay of a recording:
    --replay then found them not recorded).  Only its built-in constants while fuzzing."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # another hypothesis layout: nothing to pin
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    empty = getattr(providers, "_local_constants", None)
    if original is None or empty is None:
        yield
        return
    pinned = type(empty)(**{f: type(getattr(empty, f))(key=getattr(getattr(empty, f), "key", None))
                            for f in ("integers", "floats", "bytes", "strings")})
    providers._get_local_constants = lambda: pinned
    try:
        yield
    finally:
        providers._get_local_constants = original


def _draw(strategy: st.SearchStrategy[Any], examples: int, fuzz_seed: int, keep: Callable[[Any], None]) -> None:
    """Hand each value this seed generates to `keep`, in order (drawn before any is sent: the values do not
    depend on the answers, and a batch needs its requests at hand)."""
    @settings(max_examples=max(examples, 1), deadline=None, database=None, derandomize=False,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck), print_blob=False,
              report_multiple_bugs=False, verbosity=Verbosity.quiet)
    @seed(fuzz_seed)
    @given(strategy)
    def generated(value: Any) -> None:
        keep(value)

    with _seed_alone_decides():
        generated()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"
