"""Requirements of the 'tools' area: function calling end to end.

A declared function tool is called through a `function_call` item (never as text), its
`arguments` are a JSON string fitting the declared parameters, the caller's
`function_call_output` is accepted and reaches the model, the server's own items replay as
input, and a streamed call's argument deltas add up to the final arguments.
"""

from conformance.suite.requirements import MUST, Requirement

AREA = "tools"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "TOOLS-CALL-001", MUST, AREA,
        "A function tool call is a function_call item with a call_id and the name of a declared tool",
        "FunctionTool; FunctionToolCall (required: type, call_id, name, arguments)", basis="spec-schema",
        feature="tools",
    ),
    Requirement(
        "TOOLS-CALL-002", MUST, AREA,
        "function_call.arguments is a JSON string of an object valid against the tool's (strict) parameters",
        "FunctionToolCall.arguments; FunctionTool.parameters, strict", basis="spec-text", feature="tools",
        quote="A JSON string of the arguments to pass to the function.",
    ),
    Requirement(
        "TOOLS-CALL-003", MUST, AREA,
        "A tool call is never emitted as text (<tool_call> markup or a JSON call blob) in a message",
        "FunctionToolCall; OutputMessage.content", basis="spec-text", feature="tools",
        quote="A tool call to run a function.",
    ),
    Requirement(
        "TOOLS-OUTPUT-001", MUST, AREA,
        "A function_call_output answering a call is accepted and reaches the model (input_tokens grow with it)",
        "FunctionCallOutputItemParam", basis="spec-text", feature="tools",
        quote="The output of a function tool call.",
    ),
    Requirement(
        "TOOLS-REPLAY-001", MUST, AREA,
        "The server's own output items, function_call included, are accepted unchanged as the next input",
        "CreateResponse.input; InputItem (Item: FunctionToolCall)", basis="spec-text", feature="tools",
        quote="A tool call to run a function.",
    ),
    Requirement(
        "TOOLS-STREAM-001", MUST, AREA,
        "Streamed call: argument deltas join to the .done arguments and the final item's; call_id, name stable",
        "ResponseFunctionCallArgumentsDeltaEvent; ResponseFunctionCallArgumentsDoneEvent", basis="spec-text",
        feature="tools,streaming",
        quote="Emitted when there is a partial function-call arguments delta.",
    ),
]
