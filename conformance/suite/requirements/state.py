"""Requirements of the 'state' area: stored responses and conversation state.

`store` defaults to true, so a created response can be retrieved (`GET /v1/responses/{id}`),
listed by input item (`GET .../input_items`), deleted, and continued with `previous_response_id`.
A server that keeps nothing declares `--unsupported store` (or `--profile stateless`): these
requirements are then reported as unsupported.  `store.input_items` and `store.delete` are parts
of `store` a server may lack on their own (vLLM routes neither).
"""

from conformance.suite.requirements import MUST, Requirement

AREA = "state"

STORE_QUOTE = "Whether to store the generated model response for later retrieval via API."

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "STATE-STORE-001", MUST, AREA,
        "A response created without store is retrievable with GET /v1/responses/{id} (store defaults to true)",
        "CreateResponse.store (default true); GET /responses/{response_id}", basis="spec-schema", feature="store",
        quote=STORE_QUOTE,
    ),
    Requirement(
        "STATE-GET-001", MUST, AREA,
        "GET /v1/responses/{id} returns the response as created: same id, final status, output item ids and text",
        "GET /responses/{response_id} (getResponse) -> Response", basis="spec-text", feature="store",
        quote="Retrieves a model response with the given ID.",
    ),
    Requirement(
        "STATE-INPUT-001", MUST, AREA,
        "GET /v1/responses/{id}/input_items is a ResponseItemList of the request's input items, each with an id",
        "GET /responses/{response_id}/input_items (listInputItems) -> ResponseItemList", basis="spec-schema",
        feature="store.input_items", quote="Returns a list of input items for a given response.",
    ),
    Requirement(
        "STATE-INPUT-002", MUST, AREA,
        "input_items are listed newest first by default (order desc), oldest first with order=asc",
        "listInputItems parameter order", basis="spec-text", feature="store.input_items",
        quote="The order to return the input items in. Default is `desc`.",
    ),
    Requirement(
        "STATE-DELETE-001", MUST, AREA,
        "DELETE /v1/responses/{id} succeeds and the response is then gone (GET answers 404)",
        "DELETE /responses/{response_id} (deleteResponse): 200, 404", basis="spec-text", feature="store.delete",
        quote="Deletes a model response with the given ID.",
    ),
    Requirement(
        "STATE-NOSTORE-001", MUST, AREA,
        "A response created with store false is not retrievable: GET answers 4xx (404), never the response",
        "CreateResponse.store", basis="spec-text", quote=STORE_QUOTE,
    ),
    Requirement(
        "STATE-NULLSTORE-001", MUST, AREA,
        "store: null is the default (true): the request is accepted and the response is retrievable",
        "CreateResponse.store (anyOf boolean default true, null)", basis="spec-schema", feature="store",
    ),
    Requirement(
        "STATE-UNKNOWN-001", MUST, AREA,
        "GET /v1/responses/{id} of an unknown id answers 404 with an error object carrying a message",
        "GET /responses/{response_id}; ErrorResponse", basis="api", feature="store",
    ),
    Requirement(
        "STATE-PREV-001", MUST, AREA,
        "A response continued with previous_response_id echoes that id",
        "Response.previous_response_id", basis="spec-schema", feature="store",
        quote="The unique ID of the previous response to the model. Use this to create multi-turn conversations.",
    ),
    Requirement(
        "STATE-PREV-002", MUST, AREA,
        "previous_response_id puts the earlier turn in context: input_tokens include that turn's input",
        "CreateResponse.previous_response_id", basis="spec-text", feature="store",
        quote="The unique ID of the previous response to the model. Use this to create multi-turn conversations.",
    ),
    Requirement(
        "STATE-PREV-003", MUST, AREA,
        "A tool round trip chained by previous_response_id keeps the call and its output in later context",
        "CreateResponse.previous_response_id; FunctionCallOutputItemParam", basis="spec-text", feature="store,tools",
        quote="The unique ID of the previous response to the model. Use this to create multi-turn conversations.",
    ),
    Requirement(
        "STATE-PREV-004", MUST, AREA,
        "An unknown previous_response_id is rejected with a 4xx error, not answered without context",
        "CreateResponse.previous_response_id", basis="api", feature="store",
    ),
]
