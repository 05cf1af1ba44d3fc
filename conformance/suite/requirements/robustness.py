"""Requirements of the 'robustness' area: a server that answers whole, stays up, and never mixes
or leaks, whatever (valid or invalid) request it gets and however many arrive at once.

The fuzz and load requirements run generated requests (`conformance.judge.fuzz`) and concurrent ones
(`conformance.judge.load`) within a fixed budget (`--fuzz-examples`, `--fuzz-seed`, `--load-concurrency`).
"""

from conformance.suite.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "robustness"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "ROBUST-HTTP-001", MUST, AREA,
        "A non-streamed create answers 2xx with a JSON object body served as application/json",
        "paths./responses.post.responses.200.content (application/json): Response", basis="spec-schema",
    ),
    Requirement(
        "ROBUST-HTTP-002", SHOULD, AREA,
        "A short answer stays small: its body, or its event stream, is under 4 MB",
        "paths./responses.post.responses.200 (a reply sized by its content; errors: ERROR-012)", basis="api",
    ),
    Requirement(
        "ROBUST-STREAM-001", MUST, AREA,
        "A stream arrives whole: it neither stalls nor drops the connection nor ends mid-event",
        "WHATWG HTML, Server-sent events 9.2.6 (event dispatch at a blank line); "
        "paths./responses.post.responses.200.content (text/event-stream)", basis="sse", feature="streaming",
        quote="If the line is empty (a blank line) Dispatch the event",
    ),
    Requirement(
        "ROBUST-STREAM-002", MUST, AREA,
        "Event streams and JSON bodies are valid UTF-8, also for non-ASCII text",
        "WHATWG HTML, Server-sent events 9.2.5 (text/event-stream is UTF-8); RFC 8259 section 8.1",
        basis="sse",
        quote="Event streams in this format must always be encoded as UTF-8.",
    ),
    Requirement(
        "ROBUST-ALIVE-001", MUST, AREA,
        "The server keeps answering for the whole run: it neither dies nor stops responding",
        "paths./responses.post (a service answers every request)", basis="api",
    ),
    Requirement(
        "ROBUST-FUZZ-001", MUST, AREA,
        "Valid requests with unusual values (generated from the schema) get 2xx, never 5xx, a hang or a drop",
        "CreateResponse (input, instructions, metadata, temperature, top_p, max_output_tokens)",
        basis="spec-schema",
    ),
    Requirement(
        "ROBUST-FUZZ-002", MUST, AREA,
        "Requests with wrongly typed or unknown enum values (generated) get 4xx, never 2xx, 5xx, a hang or a drop",
        "CreateResponse; Error (invalid_request_error)", basis="api",
    ),
    Requirement(
        "ROBUST-LOAD-001", MUST, AREA,
        "Concurrent requests, streamed and not, all complete, or are refused cleanly with 429 or 503",
        "paths./responses.post; Error (429 rate limit, 503 overloaded)", basis="api",
    ),
    Requirement(
        "ROBUST-LOAD-002", MUST, AREA,
        "Concurrent responses never mix: unique ids, each carries its own request's metadata and instructions",
        "Response.id, Response.metadata, Response.instructions, Response.previous_response_id",
        basis="spec-schema",
    ),
    Requirement(
        "ROBUST-SECRET-001", SHOULD, AREA,
        "Error replies never echo the caller's API key",
        "OpenAI API 401 invalid_api_key (the key is shown masked); CWE-209", basis="api",
    ),
]
