"""Requirements of the 'parameters' area: request parameters whose effect can be observed.

Each parameter is checked by what it does, not only by being accepted: `max_output_tokens` cuts
the output and says so, `instructions` reach the model (input tokens grow) and are not carried
over, `text.format` shapes the text, `tool_choice` and `parallel_tool_calls` govern tool calls.
"""

from conformance.suite.requirements import MUST, SHOULD, Requirement

AREA = "parameters"

MAX_OUTPUT_QUOTE = ("An upper bound for the number of tokens that can be generated for a response, including "
                    "visible output tokens and reasoning tokens")

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "PARAM-MAXTOK-001", MUST, AREA,
        "A response cut short by max_output_tokens has status incomplete, incomplete_details.reason max_output_tokens",
        "Response.status; Response.incomplete_details.reason", basis="spec-text",
        quote="The reason why the response is incomplete.",
    ),
    Requirement(
        "PARAM-MAXTOK-002", MUST, AREA,
        "usage.output_tokens, reasoning tokens included, never exceeds max_output_tokens",
        "CreateResponse.max_output_tokens", basis="spec-text", quote=MAX_OUTPUT_QUOTE,
    ),
    Requirement(
        "PARAM-MAXTOK-003", SHOULD, AREA,
        "The message or function call cut off by max_output_tokens has status incomplete, not completed",
        "OutputMessage.status; FunctionToolCall.status (enum in_progress, completed, incomplete)", basis="api",
    ),
    Requirement(
        "PARAM-MAXTOK-004", MUST, AREA,
        "A streamed response cut short by max_output_tokens ends reporting status incomplete, reason max_output_tokens",
        "ResponseIncompleteEvent; Response.incomplete_details.reason", basis="spec-text", feature="streaming",
        quote="An event that is emitted when a response finishes as incomplete.",
    ),
    Requirement(
        "PARAM-INSTR-001", MUST, AREA,
        "instructions are accepted and echoed unchanged in the response's instructions field",
        "CreateResponse.instructions; Response.instructions", basis="spec-text",
        quote="A system (or developer) message inserted into the model's context.",
    ),
    Requirement(
        "PARAM-INSTR-002", MUST, AREA,
        "instructions reach the model: they add to usage.input_tokens",
        "CreateResponse.instructions", basis="spec-text",
        quote="A system (or developer) message inserted into the model's context.",
    ),
    Requirement(
        "PARAM-INSTR-003", MUST, AREA,
        "The instructions of a previous response are not carried over through previous_response_id",
        "CreateResponse.instructions", basis="spec-text", feature="store",
        quote="When using along with `previous_response_id`, the instructions from a previous response will not "
              "be carried over to the next response.",
    ),
    Requirement(
        "PARAM-JSON-001", MUST, AREA,
        "With text.format json_schema (strict), output_text is bare JSON valid against the schema",
        "TextResponseFormatJsonSchema", basis="spec-text", feature="structured_output",
        quote="If set to true, the model will always follow the exact schema defined in the `schema` field.",
    ),
    Requirement(
        "PARAM-JSON-002", MUST, AREA,
        "With text.format json_object, output_text is a bare JSON object",
        "ResponseFormatJsonObject", basis="spec-text", feature="structured_output",
        quote="JSON object response format. An older method of generating JSON responses.",
    ),
    Requirement(
        "PARAM-TOOLCHOICE-001", MUST, AREA,
        "tool_choice none: no function_call in the output, even when the prompt asks for the tool",
        "ToolChoiceOptions", basis="spec-text", feature="tools",
        quote="`none` means the model will not call any tool and instead generates a message.",
    ),
    Requirement(
        "PARAM-TOOLCHOICE-002", MUST, AREA,
        "tool_choice required: the output has at least one function_call",
        "ToolChoiceOptions", basis="spec-text", feature="tools",
        quote="`required` means the model must call one or more tools.",
    ),
    Requirement(
        "PARAM-TOOLCHOICE-003", MUST, AREA,
        "tool_choice naming a function: the output calls that function and no other",
        "ToolChoiceFunction", basis="spec-text", feature="tools",
        quote="Use this option to force the model to call a specific function.",
    ),
    Requirement(
        "PARAM-PARALLEL-001", MUST, AREA,
        "parallel_tool_calls false: at most one function_call in the output",
        "CreateResponse.parallel_tool_calls", basis="spec-text", feature="tools",
        quote="Whether to allow the model to run tool calls in parallel.",
    ),
    Requirement(
        "PARAM-INCLUDE-001", MUST, AREA,
        "Every include value CreateResponse documents as currently supported is accepted",
        "CreateResponse.include (items IncludeEnum; the values its description lists)", basis="spec-schema",
        quote="Specify additional output data to include in the model response. Currently supported values are:",
    ),
    Requirement(
        "PARAM-SAMPLING-001", SHOULD, AREA,
        "temperature within 0..2 and top_p within 0..1 are accepted",
        "CreateResponse.temperature (minimum 0, maximum 2); CreateResponse.top_p (minimum 0, maximum 1)",
        basis="spec-schema",
    ),
    Requirement(
        "PARAM-SAMPLING-002", MUST, AREA,
        "An accepted temperature (0, 2) or top_p (0.1, 1) at its range's ends is echoed as the number given, "
        "never null or absent",
        "Response.temperature; Response.top_p", basis="spec-schema",
        quote="What sampling temperature to use, between 0 and 2.",
    ),
]
