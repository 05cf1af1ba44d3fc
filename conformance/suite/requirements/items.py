"""Requirements of the 'items' area: the items of a response's `output`.

Reasoning items are the reasoning area's; function calling end to end is the tools area's.  Here:
every item is one the spec defines and valid as that variant, ids, messages and their content
parts, item status values, and the shape of a function_call item whenever one appears.
"""

from conformance.suite.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "items"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "OUTPUT-ITEM-001", MUST, AREA,
        "Every output item of a type the spec defines is valid against that variant's schema",
        "Response.output; OutputItem", basis="spec-schema",
    ),
    Requirement(
        "OUTPUT-ITEM-002", MUST, AREA,
        "Every output item's type is one the spec defines",
        "OutputItem (discriminated by type)", basis="spec-schema",
    ),
    Requirement(
        "OUTPUT-ITEM-003", MUST, AREA,
        "Output items have non-empty string ids, unique within the response",
        "OutputMessage.id; ReasoningItem.id; FunctionToolCall.id", basis="spec-text",
        quote="The unique ID of the output message.",
    ),
    Requirement(
        "OUTPUT-ITEM-004", MUST, AREA,
        'A message item has role "assistant", a status, and content parts typed output_text or refusal',
        "OutputMessage; OutputMessageContent", basis="spec-schema",
    ),
    Requirement(
        "OUTPUT-ITEM-005", MUST, AREA,
        "Every output_text part has text, an annotations array and a logprobs array",
        "OutputTextContent (required: type, text, annotations, logprobs)", basis="spec-schema",
    ),
    Requirement(
        "OUTPUT-ITEM-006", MUST, AREA,
        "An item's status, where present, is in_progress, completed or incomplete (never null)",
        "OutputMessage.status; ReasoningItem.status; FunctionToolCall.status", basis="spec-schema",
        quote="The status of the item. One of `in_progress`, `completed`, or `incomplete`.",
    ),
    Requirement(
        "OUTPUT-ITEM-007", MUST, AREA,
        "A function_call item is valid against FunctionToolCall, with a non-empty call_id and name and "
        "arguments as a string",
        "FunctionToolCall (required: type, call_id, name, arguments)", basis="spec-schema",
        feature="tools", quote="A JSON string of the arguments to pass to the function.",
    ),
]
