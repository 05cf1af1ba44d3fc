"""Requirements of the 'streaming' area: the event stream of `stream: true`, read from raw bytes.

The grammar lives in `conformance.judge.stream` (pure functions, unit-tested); each requirement here is
one of its rules applied to real streams: an answer, a tool call, and a response cut short by
`max_output_tokens`.  Orderings the spec leaves open (response.in_progress, reasoning part
events, gaps in sequence numbers, the `event:` field itself) are not required.
"""

from conformance.suite.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "streaming"

STREAMING = "streaming"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "STREAM-HTTP-001", MUST, AREA,
        "stream: true is answered 200 with Content-Type text/event-stream",
        "createResponse responses.200 content text/event-stream", basis="sse", feature=STREAMING,
    ),
    Requirement(
        "STREAM-HTTP-002", MUST, AREA,
        "A request without stream (default false) is answered with a JSON response object, not a stream",
        "CreateResponse.stream (default: false)", basis="spec-schema",
        quote="If set to true, the model response data will be streamed to the client",
    ),
    Requirement(
        "STREAM-SSE-001", MUST, AREA,
        "The stream is well-formed SSE: UTF-8, each event's data one JSON object, no event cut off",
        "WHATWG HTML, Server-sent events 9.2.6; ResponseStreamEvent", basis="sse", feature=STREAMING,
    ),
    Requirement(
        "STREAM-SSE-002", MUST, AREA,
        "An event's SSE event: field, when present, equals the type in its data",
        "createResponse streaming example (event: <type>); ResponseStreamEvent.type", basis="spec-text",
        feature=STREAMING, quote='event: response.created\ndata: {"type":"response.created", ...}',
    ),
    Requirement(
        "STREAM-EVENT-001", MUST, AREA,
        "Every event type is one of the spec's ResponseStreamEvent types (no vendor events)",
        "ResponseStreamEvent (anyOf, discriminator type)", basis="spec-schema", feature=STREAMING,
    ),
    Requirement(
        "STREAM-EVENT-002", MUST, AREA,
        "Every event is valid against the spec schema of its type",
        "ResponseStreamEvent variants", basis="spec-schema", feature=STREAMING,
    ),
    Requirement(
        "STREAM-SEQ-001", MUST, AREA,
        "Every event has an integer sequence_number, strictly increasing through the stream",
        "ResponseStreamEvent variants: sequence_number (required)", basis="spec-schema", feature=STREAMING,
        quote="The sequence number of this event.",
    ),
    Requirement(
        "STREAM-ORDER-001", MUST, AREA,
        "The first event is response.created, its response in_progress or queued",
        "ResponseCreatedEvent; openai-python ResponseStreamState", basis="sdk", feature=STREAMING,
        quote="An event that is emitted when a response is created.",
    ),
    Requirement(
        "STREAM-TERM-001", MUST, AREA,
        "The stream ends with exactly one terminal event (completed, incomplete or failed): no stall, no early close",
        "ResponseCompletedEvent; ResponseIncompleteEvent; ResponseFailedEvent", basis="spec-text", feature=STREAMING,
        quote="Emitted when the model response is complete.",
    ),
    Requirement(
        "STREAM-TERM-002", MUST, AREA,
        "The terminal event matches the final status (response.incomplete for an incomplete response, ...)",
        "ResponseIncompleteEvent; ResponseCompletedEvent; Response.status", basis="spec-text", feature=STREAMING,
        quote="An event that is emitted when a response finishes as incomplete.",
    ),
    Requirement(
        "STREAM-TERM-003", SHOULD, AREA,
        "No data: [DONE] sentinel: the stream ends with its terminal event (the SDK tolerates one)",
        "createResponse streaming example; ResponseStreamEvent", basis="api", feature=STREAMING,
    ),
    Requirement(
        "STREAM-ITEM-001", MUST, AREA,
        "Each output_item.added is closed by one output_item.done with the same output_index, id and type",
        "ResponseOutputItemAddedEvent; ResponseOutputItemDoneEvent", basis="spec-text", feature=STREAMING,
        quote="Emitted when an output item is marked done.",
    ),
    Requirement(
        "STREAM-ITEM-002", MUST, AREA,
        "The terminal response's output is the items of the output_item.done events, unchanged",
        "ResponseOutputItemDoneEvent.item; ResponseCompletedEvent.response.output", basis="spec-text",
        feature=STREAMING,
        quote="Use the reasoning item from the corresponding `response.output_item.done` event when passing it "
              "as input",
    ),
    Requirement(
        "STREAM-ID-001", MUST, AREA,
        "Item ids are non-empty, and each event's item_id is the id of the item at its output_index",
        "ResponseTextDeltaEvent.item_id (and every part/delta event); OutputItem.id", basis="spec-schema",
        feature=STREAMING, quote="The ID of the output item that the text delta was added to.",
    ),
    Requirement(
        "STREAM-ID-002", MUST, AREA,
        "The response id is the same in every lifecycle event (created, in_progress, terminal)",
        "ResponseCreatedEvent.response.id; openai-python ResponseStreamState", basis="sdk", feature=STREAMING,
    ),
    Requirement(
        "STREAM-INDEX-001", MUST, AREA,
        "output_index and content_index/summary_index point at the final item and part the event is about",
        "ResponseTextDeltaEvent.output_index/content_index; ResponseReasoningSummaryTextDeltaEvent.summary_index",
        basis="spec-text", feature=STREAMING, quote="The index of the content part that the text delta was added to.",
    ),
    Requirement(
        "STREAM-NEST-001", MUST, AREA,
        "Events of an item come between its output_item.added and .done; message text inside its content part",
        "ResponseContentPartAddedEvent; ResponseTextDeltaEvent; openai-python ResponseStreamState", basis="sdk",
        feature=STREAMING,
    ),
    Requirement(
        "STREAM-TEXT-001", MUST, AREA,
        "Reasoning text of the final response is streamed: deltas join to one .done value and the final item",
        "ResponseReasoningTextDeltaEvent/DoneEvent; ResponseReasoningSummaryTextDeltaEvent/DoneEvent",
        basis="spec-text", feature="streaming,reasoning", quote="Emitted when a reasoning text is completed.",
    ),
    Requirement(
        "STREAM-FINAL-001", MUST, AREA,
        "A streamed request gives the same kinds of output items as unstreamed (tool calls as function_call items)",
        "CreateResponse.stream; ResponseCompletedEvent.response", basis="spec-text", feature=STREAMING,
        quote="Properties of the completed response.",
    ),
    Requirement(
        "STREAM-FINAL-002", SHOULD, AREA,
        "The streamed final response carries usage and the fields the unstreamed response has",
        "ResponseCompletedEvent.response (Response)", basis="api", feature=STREAMING,
    ),
]
