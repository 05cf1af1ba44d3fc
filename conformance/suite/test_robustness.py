"""Robustness: the server answers whole and stays up, whatever it is sent and however much at once.

Transport checks (JSON served as JSON, a stream that arrives whole and in UTF-8, a bounded body),
a server that keeps answering, generated valid and invalid requests (hypothesis, seeded and
bounded: `--fuzz-examples`, `--fuzz-seed`), concurrent requests (`--load-concurrency`), and error
replies that do not echo the caller's API key.  No check reads model text.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conformance.base.redact import REDACTOR, Redactor
from conformance.judge import fuzz, load
from conformance.judge.checks import ConformanceFailure, check, fail, nothing_to_judge, show
from conformance.judge.profiles import declared_unsupported, unsupported_feature
from conformance.judge.responses import request, send_shared
from conformance.suite.requirements import MUST, SHOULD, requirement
from conformance.wire.guard import LIVENESS
from conformance.wire.http import MAX_BODY, ApiClient, record

UNICODE_PROMPT = "Réponds avec un emoji 🙂 et un mot japonais (日本語), s'il te plaît — merci!"
ALIVE_REQUESTS = 12  # sequential small requests: a server that dies after a few is seen dying


def supports(config: pytest.Config, feature: str) -> bool:
    declared = declared_unsupported(config.option.unsupported, getattr(config.option, "profile", ""))
    return unsupported_feature(feature, declared) is None


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


@requirement("ROBUST-HTTP-001", MUST)
def test_create_answers_json(api, model):
    reply = send_shared(api, "POST", "responses", json_body=request(model))
    ctype = reply.content_type
    check(200 <= reply.status < 300, "HTTP status", f"HTTP {reply.status} (Content-Type: {ctype or '(none)'}) "
          f"{show(reply.body[:300])}", "HTTP 2xx with the response object")
    media = _media_type(ctype)
    check(media == "application/json" or media.endswith("+json"), "Content-Type header", ctype or "(absent)",
          "application/json (parameters such as charset=utf-8 allowed)")
    data = reply.json_object("the body of a successful create")
    check(isinstance(data.get("id"), str), "$.id", data.get("id"), "the response object's id (a string)")


@requirement("ROBUST-HTTP-002", SHOULD)
@pytest.mark.parametrize("mode", ["json", pytest.param("stream", marks=pytest.mark.feature("streaming"))])
def test_short_answer_stays_small(api, model, mode):
    body = request(model, max_output_tokens=16)
    if mode == "json":
        reply = api.post("responses", body)
        sent = reply.exchange.response_headers  # as the server sent them (lower-case names)
        check(not reply.truncated, "the body of a create with max_output_tokens=16",
              f"more than {MAX_BODY} bytes (decoded; as sent: Content-Length "
              f"{sent.get('content-length', 'not given')}, Content-Encoding {sent.get('content-encoding', 'none')})",
              f"a reply sized by its content: at most {MAX_BODY} bytes for a 16-token answer")
        return
    stream = api.stream("responses", {**body, "stream": True})
    if not 200 <= stream.status < 300:
        nothing_to_judge(f"the stream was refused (HTTP {stream.status}; ROBUST-STREAM-001 judges it)")
    too_big = len(stream.raw) >= MAX_BODY or "exceeded" in (stream.error or "") or "larger" in (stream.error or "")
    check(not too_big, "the event stream of a create with max_output_tokens=16",
          f"{len(stream.raw)}+ bytes ({stream.error or 'still more'})",
          f"a stream sized by its content: at most {MAX_BODY} bytes for a 16-token answer")


@requirement("ROBUST-STREAM-001", MUST)
def test_stream_arrives_whole(api, model):
    reply = api.stream("responses", request(model, stream=True))
    check(200 <= reply.status < 300, "HTTP status", f"HTTP {reply.status} {show(reply.raw[:300])}",
          "HTTP 2xx with an event stream")
    if reply.error:
        last = reply.events[-1].event if reply.events else None
        fail("the event stream", f"{reply.error} (last event: {show(last)}; {len(reply.raw)} bytes read)",
             "the stream to run to its end: events keep coming until the server closes it")
    if reply.partial_event_at_end:
        tail = reply.raw[-200:].decode("utf-8", "replace")
        fail("the end of the event stream", f"the connection closed in the middle of an event: {show(tail)}",
             "every event ends with a blank line before the server closes the stream")


def _strict_utf8(raw: bytes, where: str) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3 and len(raw) >= MAX_BODY:
            return  # a character cut by the suite's own size cap, not by the server
        around = raw[max(0, exc.start - 40): exc.start + 20]
        fail(f"{where}, byte {exc.start}", f"{around!r} ({exc.reason})",
             "valid UTF-8 throughout (every multi-byte character complete)")


@requirement("ROBUST-STREAM-002", MUST)
@pytest.mark.parametrize("mode", ["json", pytest.param("stream", marks=pytest.mark.feature("streaming"))])
def test_bodies_and_streams_are_utf8(api, model, mode):
    body = request(model, UNICODE_PROMPT, 64)
    if mode == "json":
        reply = api.post("responses", body)
        check(200 <= reply.status < 300, "HTTP status", f"HTTP {reply.status} {show(reply.body[:300])}", "HTTP 2xx")
        _strict_utf8(reply.body, "the JSON body")
        return
    stream = api.stream("responses", {**body, "stream": True})
    check(200 <= stream.status < 300, "HTTP status (stream)", f"HTTP {stream.status}", "HTTP 2xx")
    if not stream.raw:
        nothing_to_judge("the stream sent no byte (ROBUST-STREAM-001 judges a stream that does not arrive)")
    _strict_utf8(stream.raw, "the event stream")


@requirement("ROBUST-ALIVE-001", MUST)
@pytest.mark.starts_early("its requests follow each other: the longest chain of the suite")
def test_server_keeps_answering(api, model):
    if LIVENESS.dead:
        raise ConformanceFailure(f"at: the server\nReceived: {LIVENESS.dead}\nExpected: answers for the whole run")
    for i in range(ALIVE_REQUESTS):
        if i % 4 == 0:
            api.get("models")  # a transport failure raises the suite's failure ("server stopped responding ...")
        else:
            api.post("responses", request(model, f"Say the number {i}.", 16))


def _fuzz_report(run: fuzz.FuzzRun, what: str, seed: int, examples: int) -> None:
    if not run.findings:
        return
    first, *rest = run.findings
    if first.exchange is not None:
        record(first.exchange)  # last in the evidence: the report's "Reproduce with" is the first finding
    parts = [first.text(reproducer=False) + "\n(reproducer: below)", *(f.text() for f in rest[:2])]
    if rest[2:]:
        parts.append("... and " + "; ".join(f.summary() for f in rest[2:8]) + ("; ..." if rest[8:] else ""))
    early = ""
    if run.stopped_early:
        why = ("after repeated transport failures" if run.transport_failures >= fuzz.MAX_TRANSPORT_FAILURES
               else "the server is gone" if run.findings[-1].exchange is None else "time budget reached")
        early = f" (stopped after {run.sent} of {run.planned}: {why})"
    # the requests are the seed's whatever the concurrency; where an early stop falls depends on the batch size
    batches = f" --concurrency {run.batch}" if run.batch > 1 and run.stopped_early else ""
    alone = f"\n\nEach finding failed when sent alone. {run.alone_since}" if run.alone_since else ""
    raise ConformanceFailure(
        f"{len(run.findings)} of {run.sent} {what} were not handled as the spec requires{early}:\n\n"
        + "\n\n".join(parts) + alone
        + f"\n\nReplay the same requests: --fuzz-seed {seed} --fuzz-examples {examples}{batches}")


@requirement("ROBUST-FUZZ-001", MUST)
@pytest.mark.alone("generated requests: a server they break is not blamed on other tests")
def test_fuzz_valid_requests_succeed(api, model, pytestconfig, together):
    examples, seed = pytestconfig.option.fuzz_examples, pytestconfig.option.fuzz_seed
    if examples == 0:
        pytest.skip("fuzzing disabled (--fuzz-examples 0)")
    space = fuzz.RequestSpace.load()
    run = fuzz.run(api, fuzz.valid_requests(model, supports(pytestconfig, "streaming"), space), fuzz.check_valid,
                   examples, seed, explicit=fuzz.explicit_valid(model, space),
                   label=lambda body: ("generated" + (", streamed" if body.get("stream") else ""), body),
                   together=together)
    _fuzz_report(run, "valid requests", seed, examples)


@requirement("ROBUST-FUZZ-002", MUST)
@pytest.mark.alone("generated requests: a server they break is not blamed on other tests")
def test_fuzz_invalid_requests_rejected(api, model, pytestconfig, together):
    examples, seed = pytestconfig.option.fuzz_examples, pytestconfig.option.fuzz_seed
    if examples == 0:
        pytest.skip("fuzzing disabled (--fuzz-examples 0)")
    skip = () if supports(pytestconfig, "store") else ("store",)  # a field a server without storage may ignore
    run = fuzz.run(api, fuzz.invalid_requests(model, skip=skip), fuzz.check_invalid, examples, seed,
                   label=lambda v: v, together=together)
    _fuzz_report(run, "invalid requests", seed, examples)


_LOAD: dict[tuple[int, str], load.LoadRun] = {}


def _load_run(api: ApiClient, model: str, config: pytest.Config) -> load.LoadRun:
    """One load run per test process, shared by both load requirements (its exchanges re-recorded)."""
    concurrency = config.option.load_concurrency
    if concurrency == 0:
        pytest.skip("load test disabled (--load-concurrency 0)")
    key = (id(api), model)
    if key not in _LOAD:
        _LOAD[key] = load.run(api, model, concurrency, streaming=supports(config, "streaming"),
                              store=supports(config, "store"))
    else:
        for o in _LOAD[key].outcomes:
            if o.exchange is not None:
                record(o.exchange)
    return _LOAD[key]


@requirement("ROBUST-LOAD-001", MUST)
@pytest.mark.alone("measures concurrency itself")
def test_concurrent_requests_complete(api, model, pytestconfig):
    run = _load_run(api, model, pytestconfig)
    bad = [o for o in run.outcomes if o.problem]
    if bad:
        if bad[0].exchange is not None:
            record(bad[0].exchange)  # the report's "Reproduce with" shows the first failed request
        shown = "\n\n".join(f"at: {o.label}\n{o.problem}"
                            + (f"\nReproduce with: {o.exchange.curl()}" if o.exchange else "") for o in bad[:4])
        raise ConformanceFailure(
            f"{len(bad)} of {len(run.outcomes)} requests sent {run.concurrency} at a time did not complete "
            f"cleanly:\n\n{shown}")


@requirement("ROBUST-LOAD-002", MUST)
@pytest.mark.alone("measures concurrency itself")
def test_concurrent_responses_never_mix(api, model, pytestconfig):
    run = _load_run(api, model, pytestconfig)
    done = [o for o in run.outcomes if o.response is not None]
    if len(done) < 2:
        pytest.skip(f"precondition: fewer than two of {len(run.outcomes)} concurrent requests completed "
                    "(see ROBUST-LOAD-001)")
    problems = load.mixing(run)
    if problems:
        if problems[0][0].exchange is not None:
            record(problems[0][0].exchange)  # the report's "Reproduce with" shows the first mixed-up request
        raise ConformanceFailure(
            f"{len(problems)} sign(s) that concurrent requests got mixed up ({run.concurrency} at a time):\n\n"
            + "\n\n".join(text for _, text in problems[:6]))


def _leaks(text: str, secret: str, random_part: str = "", window: int = 16) -> bool:
    """The secret, or any `window` characters of its random part, appear in `text`, also in another form
    (any case, JSON- or URL-escaped, base64: what the redactor removes); a key masked as the OpenAI API
    does (a few characters at each end) shows less."""
    if secret in text or Redactor([secret]).text(text) != text:
        return True
    return any(random_part[i:i + window] in text for i in range(len(random_part) - window + 1))


@requirement("ROBUST-SECRET-001", SHOULD)
def test_error_replies_do_not_echo_the_key(api, model, server):
    random_part = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    probe = "sk-rcprobe-" + random_part
    REDACTOR.add(probe)  # the evidence never shows it, whatever the server does
    invalid: dict[str, Any] = {"model": model, "input": 42, "max_output_tokens": 16}
    replies = [("with a made-up API key", probe, random_part,
                api.post("responses", invalid, headers={"Authorization": f"Bearer {probe}"}))]
    if server.api_key and len(server.api_key) >= 8:
        replies.append(("with the run's API key", server.api_key, "", api.post("responses", invalid)))
    for how, key, random, reply in replies:
        text = reply.body.decode("utf-8", "replace") + "\n" + "\n".join(reply.headers.values())
        if _leaks(text, key, random):
            fail(f"the HTTP {reply.status} reply to an invalid request sent {how}",
                 "the API key from the Authorization header, echoed (verbatim or encoded; shown [REDACTED] in the "
                 "evidence)",
                 "no credential in the reply (leave it out, or mask it as the OpenAI API does: sk-...abcd)")
