"""Requirements of the 'clients' area: what the clients people run send, accepted as the API accepts it.

The request shapes of five real clients (openai-agents, langchain-openai, pydantic-ai, the AI SDK,
the Codex CLI), captured from the clients themselves (`conformance/suite/clients/`), are replayed
turn by turn against the server, with the ids the server returned substituted.  Each client has a
requirement that all its shapes are accepted; each kind of shape has one too (a tool type, an
`item_reference`, reasoning handed back in a client's form), so a refusal is named twice: by the
client it breaks and by what was refused.  Where the libraries are installed (the `clients` extra),
they are also run live: a plain call, a stream, a tool loop and a second turn.

Levels: MUST where the spec defines the field or item; a built-in tool (web search, hosted tool
search) is one the spec describes as "provided by OpenAI", so a server that does not provide it may
refuse it with a clear 4xx; SHOULD for what a widely used client sends outside the pinned spec
(`client_metadata`, which the official API accepts).
"""

from conformance.suite.requirements import MUST, SHOULD, Requirement

AREA = "clients"
REPLAY = "Each captured turn of {client}, replayed in order with the server's ids, is accepted"
LIVE = "{client}: a plain call, a stream, a tool loop and a second turn complete"
TOOLS_QUOTE = ("Built-in tools: Tools that are provided by OpenAI that extend the model's capabilities ... "
               "Function calls (custom tools): Functions that are defined by you ... You can also use custom tools "
               "to call your own code.")


def _replay(req_id: str, client: str, spec: str) -> Requirement:
    return Requirement(req_id, MUST, AREA, REPLAY.format(client=client), spec, basis="spec-schema",
                       feature="clients")


def _live(req_id: str, client: str) -> Requirement:
    return Requirement(req_id, MUST, AREA, LIVE.format(client=client),
                       "CreateResponse; Response; ResponseStreamEvent (as the client library reads them)",
                       basis="sdk", feature="clients.live")


REQUIREMENTS: list[Requirement] = [
    _replay("CLIENT-AGENTS-001", "openai-agents",
            "CreateResponse (include, store, reasoning, previous_response_id); EasyInputMessage; ReasoningItem"),
    _replay("CLIENT-LANGCHAIN-001", "langchain-openai",
            "CreateResponse; InputMessage; ReasoningItem (status, empty content); FunctionTool (no strict)"),
    _replay("CLIENT-PYDANTIC-001", "pydantic-ai",
            "CreateResponse; ReasoningItem (encrypted_content null); FunctionToolCall (no id, status)"),
    _replay("CLIENT-AISDK-001", "the AI SDK",
            "CreateResponse; ItemReferenceParam; ReasoningItem (encrypted_content); EasyInputMessage"),
    _replay("CLIENT-CODEX-001", "Codex CLI (client_metadata aside)",
            "CreateResponse (prompt_cache_key, text.verbosity, include); Tool (namespace, custom, tool_search)"),
    Requirement(
        "CLIENT-PARAM-001", SHOULD, AREA,
        "client_metadata, sent by the Codex CLI on every request, is accepted (the official API takes it)",
        "CreateResponse (the request object: client_metadata is outside the pinned spec; the official API accepts it)",
        basis="api", feature="clients",
    ),
    Requirement(
        "CLIENT-TOOL-001", MUST, AREA,
        "Client-run tools that clients declare (function forms, custom with a grammar, namespace, tool_search) "
        "are accepted",
        "CreateResponse.tools (ToolsArray); Tool: FunctionTool, CustomToolParam, NamespaceToolParam, "
        "ToolSearchToolParam", basis="spec-text", feature="clients", quote=TOOLS_QUOTE,
    ),
    Requirement(
        "CLIENT-TOOL-002", MUST, AREA,
        "A built-in tool a client declares (web_search) is accepted, or refused with a clear 4xx error object",
        "CreateResponse.tools (ToolsArray); Tool: WebSearchTool; Error", basis="spec-text", feature="clients",
        quote=TOOLS_QUOTE,
    ),
    Requirement(
        "CLIENT-ITEM-001", MUST, AREA,
        "Earlier output handed back as item_reference items (the AI SDK's default second turn) is accepted",
        "CreateResponse.input; InputItem: ItemReferenceParam", basis="spec-schema", feature="clients,store",
        quote="An internal identifier for an item to reference.",
    ),
    Requirement(
        "CLIENT-REASON-001", MUST, AREA,
        "Reasoning items handed back in each client's own form (status, empty content, null or encrypted "
        "content) are accepted",
        "CreateResponse.input; ReasoningItem (id, summary required; content, encrypted_content, status optional)",
        basis="spec-schema", feature="clients",
        quote="Be sure to include these items in your `input` to the Responses API for subsequent turns",
    ),
    Requirement(
        "CLIENT-REASON-002", SHOULD, AREA,
        "A reasoning item a client hands back after the last user message reaches the model (input_tokens grow)",
        "CreateResponse.input; ReasoningItem; ResponseUsage.input_tokens", basis="api", feature="clients",
        quote="Be sure to include these items in your `input` to the Responses API for subsequent turns",
    ),
    _live("CLIENT-AGENTS-002", "openai-agents (a Runner, one function tool)"),
    _live("CLIENT-LANGCHAIN-002", "langchain-openai (Responses API, bind_tools)"),
    _live("CLIENT-PYDANTIC-002", "pydantic-ai (OpenAIResponsesModel)"),
    # SHOULD: Codex sends client_metadata (outside the pinned spec) on every request
    Requirement("CLIENT-CODEX-002", SHOULD, AREA, LIVE.format(client="codex exec (read-only, no shell tool)"),
                "CreateResponse (with client_metadata); ResponseStreamEvent (Codex always streams)", basis="sdk",
                feature="clients.live"),
]
