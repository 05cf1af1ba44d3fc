"""Requirements of the 'output_text' area: the answer's text, whole and streamed.

`output_text` is what clients read: the SDK's `Response.output_text` joins every `output_text`
part of every message.  The answer must be there, and the streamed text (deltas, `.done`
events, the SDK's stream helper) must agree with the final response part by part.
"""

from conformance.suite.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "output_text"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "OTEXT-001", MUST, AREA,
        "A normal answer has non-empty output_text (a message with output_text parts), streamed or not",
        "OutputMessage.content (OutputTextContent); SDK Response.output_text", basis="api",
    ),
    Requirement(
        "OTEXT-002", MUST, AREA,
        "An output_text field in the response, when the server sends one, equals the output_text parts joined",
        "Response.output_text", basis="spec-text",
        quote="SDK-only convenience property that contains the aggregated text output from all `output_text` "
              "items in the `output` array",
    ),
    Requirement(
        "OTEXT-003", MUST, AREA,
        "The output_text.delta events of each part, joined, equal that part's text in the final response",
        "ResponseTextDeltaEvent; ResponseCompletedEvent.response", basis="spec-text", feature="streaming",
        quote="Emitted when there is an additional text delta.",
    ),
    Requirement(
        "OTEXT-004", MUST, AREA,
        "Each output_text part ends with one output_text.done (and content_part.done) carrying its final text",
        "ResponseTextDoneEvent; ResponseContentPartDoneEvent", basis="spec-text", feature="streaming",
        quote="Emitted when text content is finalized.",
    ),
    Requirement(
        "OTEXT-005", MUST, AREA,
        "Through the SDK's stream helper, the text streamed equals the final response's output_text",
        "openai-python Responses.stream / ResponseStream.get_final_response", basis="sdk", feature="streaming",
    ),
]
