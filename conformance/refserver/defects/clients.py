"""Planted defects of the 'clients' area: the shapes real clients send, refused or lost."""

from __future__ import annotations

from conformance.refserver.defects import defect
from conformance.refserver.engine import ApiError

# CreateResponse's properties in the pinned spec: what a strict server knows
PINNED = {
    "background", "context_management", "conversation", "include", "input", "instructions", "max_output_tokens",
    "max_tool_calls", "metadata", "model", "moderation", "parallel_tool_calls", "previous_response_id", "prompt",
    "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning", "safety_identifier",
    "service_tier", "store", "stream", "stream_options", "temperature", "text", "tool_choice", "tools",
    "top_logprobs", "top_p", "truncation", "user",
}


def _items(body) -> list:
    items = body.get("input") if isinstance(body, dict) else None
    return [(i, it) for i, it in enumerate(items) if isinstance(it, dict)] if isinstance(items, list) else []


def _reasoning(body) -> list:
    return [(i, it) for i, it in _items(body) if it.get("type") == "reasoning"]


@defect("client-tool-type-rejected", targets=["CLIENT-TOOL-001", "CLIENT-CODEX-001"],
        modelled_on="servers that know only function tools (this reference server before issue 20: the Codex CLI's "
        "namespace, custom and tool_search tools refused with 400); vLLM refusing custom tools with a grammar")
class ClientToolTypeRejected:
    """Every tool type but `function` is refused with 400, the client-run ones (custom, namespace) included."""

    def request(ctx, body):
        tools = body.get("tools") if isinstance(body, dict) else None
        for i, tool in enumerate(tools if isinstance(tools, list) else []):
            if isinstance(tool, dict) and tool.get("type") != "function":
                raise ApiError(400, f"Tool type {tool.get('type')!r} is not supported.", f"tools[{i}].type",
                               "unsupported_value")
        return body


@defect("builtin-tool-server-error", targets=["CLIENT-TOOL-002", "CLIENT-CODEX-001"],
        modelled_on="tool converters that look a tool up by its type in a table of function-like tools and crash "
        "(KeyError, 500) on a built-in tool such as web_search")
class BuiltinToolServerError:
    """A web_search tool makes the server fail with 500 instead of running or refusing it clearly."""

    def request(ctx, body):
        tools = body.get("tools") if isinstance(body, dict) else None
        if any(isinstance(t, dict) and str(t.get("type", "")).startswith("web_search")
               for t in (tools if isinstance(tools, list) else [])):
            raise ApiError(500, "The server had an error while processing your request.", None, None, "server_error")
        return body


@defect("item-reference-rejected", targets=["CLIENT-ITEM-001", "CLIENT-AISDK-001"],
        modelled_on="vLLM (issue 20: the AI SDK's default second turn hands earlier output back as item_reference "
        "items, refused with 400)")
class ItemReferenceRejected:
    """item_reference input items are refused with 400 as an unsupported item type."""

    def request(ctx, body):
        for i, item in _items(body):
            if item.get("type") == "item_reference":
                raise ApiError(400, "Input items of type 'item_reference' are not supported.", f"input[{i}].type",
                               "unsupported_value")
        return body


@defect("unknown-parameter-rejected", targets=["CLIENT-PARAM-001", "CLIENT-CODEX-002"],
        modelled_on="strict request models (extra='forbid'): the Codex CLI 0.171 fails every request with 400 "
        "\"Unknown parameter: 'client_metadata'\" (issue 20)")
class UnknownParameterRejected:
    """A top-level parameter outside the pinned spec (client_metadata) is refused with 400."""

    def request(ctx, body):
        unknown = sorted(set(body) - PINNED) if isinstance(body, dict) else []
        if unknown:
            raise ApiError(400, f"Unknown parameter: '{unknown[0]}'.", unknown[0], "unknown_parameter")
        return body


@defect("reasoning-status-rejected",
        targets=["CLIENT-REASON-001", "CLIENT-AGENTS-001", "CLIENT-LANGCHAIN-001", "CLIENT-AGENTS-002",
                 "CLIENT-LANGCHAIN-002"],
        modelled_on="strict input models without ReasoningItem.status: openai-agents and LangChain hand reasoning "
        "back with the status the server gave it")
class ReasoningStatusRejected:
    """A reasoning input item carrying `status` (as openai-agents and LangChain send it) is refused with 400."""

    def request(ctx, body):
        for i, item in _reasoning(body):
            if "status" in item:
                raise ApiError(400, f"Unknown parameter: 'input[{i}].status'.", f"input[{i}].status",
                               "unknown_parameter")
        return body


@defect("reasoning-null-encrypted-rejected",
        targets=["CLIENT-REASON-001", "CLIENT-PYDANTIC-001", "CLIENT-PYDANTIC-002"],
        modelled_on="input models typing ReasoningItem.encrypted_content as a string, not string-or-null: "
        "pydantic-ai hands reasoning back with encrypted_content: null")
class ReasoningNullEncryptedRejected:
    """A reasoning input item with `encrypted_content: null` (pydantic-ai's form) is refused with 400."""

    def request(ctx, body):
        for i, item in _reasoning(body):
            if "encrypted_content" in item and item["encrypted_content"] is None:
                raise ApiError(400, f"Invalid type for 'input[{i}].encrypted_content': expected a string, but got "
                               "null instead.", f"input[{i}].encrypted_content", "invalid_type")
        return body


@defect("reasoning-null-encrypted-lost", targets=["CLIENT-REASON-002"],
        modelled_on="servers that read a reasoning item from encrypted_content whenever the key is present "
        "(`if 'encrypted_content' in item: decrypt(item['encrypted_content'] or '')`): pydantic-ai's "
        "encrypted_content: null loses the reasoning text it carries")
class ReasoningNullEncryptedLost:
    """A reasoning item handed back with `encrypted_content: null` (pydantic-ai's form) never reaches the model."""

    def context(ctx, item, where):
        if item.get("type") == "reasoning" and "encrypted_content" in item and item["encrypted_content"] is None:
            return None
        return item
