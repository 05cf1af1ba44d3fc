"""Requirements of the 'errors' area: how POST /v1/responses answers requests it cannot serve.

A client mistake is answered with a 4xx (never a 2xx, never a 5xx) carrying the spec's
`ErrorResponse` body.  The spec does not say which 4xx, so no exact status is required.
"""

from conformance.suite.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "errors"

_4XX = "HTTP: 4xx = the client erred, 5xx = the server failed (RFC 9110 §15.5, §15.6)"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "ERROR-001", MUST, AREA,
        "A body that is not a JSON object (malformed, empty, an array) is rejected with a 4xx",
        f"POST /v1/responses requestBody (application/json: CreateResponse); {_4XX}", basis="sse",
    ),
    Requirement(
        "ERROR-002", MUST, AREA,
        "A request with a wrongly typed parameter (model, input, temperature, ...) is rejected with a 4xx",
        f"CreateResponse property types; {_4XX}", basis="spec-schema",
    ),
    Requirement(
        "ERROR-003", MUST, AREA,
        "An input item, content part or role the spec does not define is rejected with a 4xx",
        f"InputItem; InputContent; EasyInputMessage.role; {_4XX}", basis="spec-schema",
    ),
    Requirement(
        "ERROR-004", MUST, AREA,
        "A request for a model the server does not have is rejected with a 4xx",
        f"CreateResponse.model; OpenAI API: 404 model_not_found; {_4XX}", basis="api",
    ),
    Requirement(
        "ERROR-005", MUST, AREA,
        "A request missing a field the spec requires (message content, tool name, ...) is rejected with a 4xx",
        f"EasyInputMessage/FunctionTool/TextResponseFormatJsonSchema/FunctionCallOutputItemParam required; {_4XX}",
        basis="spec-schema",
    ),
    Requirement(
        "ERROR-006", MUST, AREA,
        "A request with an out-of-range value (temperature, top_p, max_output_tokens) is rejected with a 4xx",
        f"CreateResponse minimum/maximum; {_4XX}", basis="spec-schema",
    ),
    Requirement(
        "ERROR-007", MUST, AREA,
        "A form-encoded body gets a 4xx or is served (a 2xx response object); never a 5xx nor an error in a 2xx",
        f"POST /v1/responses requestBody content: application/json; {_4XX}", basis="sse",
    ),
    Requirement(
        "ERROR-008", MUST, AREA,
        "Schema-valid input items the server does not implement get a 4xx (or are served), never a 5xx",
        f"InputItem (item_reference, computer_call_output, mcp_call, ...); {_4XX}", basis="spec-schema",
    ),
    Requirement(
        "ERROR-009", MUST, AREA,
        'An error reply\'s body is JSON {"error": {"message", "type", "param", "code"}} per ErrorResponse',
        "ErrorResponse; Error (the spec's error body: POST /responses 429, every 4xx of other operations)",
        basis="spec-schema",
    ),
    Requirement(
        "ERROR-010", MUST, AREA,
        "error.code is a string or null (not a number)",
        "Error.code (string | null)", basis="spec-schema",
    ),
    Requirement(
        "ERROR-011", SHOULD, AREA,
        "error.param, when given, names the parameter that caused the error",
        "Error.param; OpenAI API: param names the offending field", basis="api",
    ),
    Requirement(
        "ERROR-012", SHOULD, AREA,
        "An error reply's body stays small: no more than a few times the size of the request",
        "Error.message; vLLM #49239 (error bodies > 100 MB)", basis="api",
    ),
]
