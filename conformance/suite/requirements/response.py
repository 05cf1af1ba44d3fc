"""Requirements of the 'response' area: the response object returned by POST /v1/responses.

The whole object is checked against the spec's `Response` schema (RESP-OBJECT-001); the other
requirements each name one field or invariant, so a defect is reported by the requirement it
breaks rather than as one of many schema violations.
"""

from conformance.suite.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "response"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "RESP-OBJECT-001", MUST, AREA,
        "A non-streamed reply is a response object valid against the spec's Response schema",
        "Response", basis="spec-schema",
    ),
    Requirement(
        "RESP-OBJECT-002", MUST, AREA,
        "id is a non-empty string",
        "Response.id", basis="spec-schema", quote="Unique identifier for this Response.",
    ),
    Requirement(
        "RESP-OBJECT-003", SHOULD, AREA,
        "id starts with resp_, as the official API's ids do",
        "Response.id (OpenAI API: resp_...)", basis="api",
    ),
    Requirement(
        "RESP-OBJECT-004", MUST, AREA,
        'object is "response"',
        "Response.object", basis="spec-schema",
        quote="The object type of this resource - always set to `response`.",
    ),
    Requirement(
        "RESP-OBJECT-005", MUST, AREA,
        "created_at (and completed_at when set) are Unix times in seconds, near now, completed_at >= created_at",
        "Response.created_at; Response.completed_at", basis="spec-text",
        quote="Unix timestamp (in seconds) of when this Response was created.",
    ),
    Requirement(
        "RESP-OBJECT-006", MUST, AREA,
        "A response created without background is returned finished: status completed, incomplete or failed",
        "Response.status; CreateResponse.background", basis="spec-text",
        quote="One of `completed`, `failed`, `in_progress`, `cancelled`, `queued`, or `incomplete`.",
    ),
    Requirement(
        "RESP-OBJECT-007", MUST, AREA,
        "A finished response holds no output item that is still in_progress",
        "Response.status; OutputItem.status", basis="spec-text",
        quote="The status of the item. One of `in_progress`, `completed`, or `incomplete`. Populated when items "
              "are returned via API.",
    ),
    Requirement(
        "RESP-OBJECT-008", MUST, AREA,
        'Output cut short by max_output_tokens gives status "incomplete", reason "max_output_tokens"',
        "Response.status; Response.incomplete_details.reason", basis="spec-text",
        quote="Details about why the response is incomplete.",
    ),
    Requirement(
        "RESP-OBJECT-009", MUST, AREA,
        "error is present, and null unless the response failed",
        "Response.error (required, nullable)", basis="spec-schema",
        quote="An error object returned when the model fails to generate a Response.",
    ),
    Requirement(
        "RESP-OBJECT-010", MUST, AREA,
        "incomplete_details is present: null unless status is incomplete, then an object with a reason",
        "Response.incomplete_details (required, nullable)", basis="spec-schema",
    ),
    Requirement(
        "RESP-OBJECT-011", MUST, AREA,
        "model is a non-empty string",
        "Response.model (required)", basis="spec-schema",
    ),
    Requirement(
        "RESP-OBJECT-012", MUST, AREA,
        "Parameters set in the request (instructions, metadata, temperature, top_p, tools, ...) are echoed",
        "Response.instructions/metadata/temperature/top_p/max_output_tokens/tools/tool_choice/"
        "parallel_tool_calls/text", basis="spec-text",
        quote='createResponse example: the request\'s "instructions": "You are a helpful assistant." comes back '
              'in the response as "instructions":"You are a helpful assistant."',
    ),
    Requirement(
        "RESP-OBJECT-013", SHOULD, AREA,
        "Parameters omitted from the request are echoed as null or the default, not as invented values",
        "Response.max_output_tokens/instructions/tools/previous_response_id", basis="api",
    ),
    Requirement(
        "RESP-OBJECT-014", SHOULD, AREA,
        'store: false and reasoning.effort "low" are echoed: store, if reported, is false; effort, if reported '
        'or used, "low"',
        "Response.reasoning.effort; Response.store (OpenAI API)", basis="api",
    ),
    Requirement(
        "RESP-OBJECT-015", SHOULD, AREA,
        "A finished response reports usage (an object, not null or absent)",
        "Response.usage (OpenAI API: always set on a finished response)", basis="api",
    ),
    Requirement(
        "RESP-OBJECT-016", MUST, AREA,
        "usage has input/output/total tokens and their details, all non-negative integers",
        "ResponseUsage", basis="spec-schema",
    ),
    Requirement(
        "RESP-OBJECT-017", MUST, AREA,
        "usage adds up: total = input + output, reasoning <= output, cached <= input, counts > 0",
        "ResponseUsage.total_tokens/output_tokens_details/input_tokens_details", basis="spec-text",
        quote="Represents token usage details including input tokens, output tokens, a breakdown of output "
        "tokens, and the total tokens used.",
    ),
]
