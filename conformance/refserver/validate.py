"""Request validation for the reference server: bad input is a 4xx with the OpenAI error shape."""

from __future__ import annotations

from typing import Any

from conformance.refserver.engine import MODELS, ApiError

INCLUDE_VALUES = {
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs",
}
ROLES = {"user", "assistant", "system", "developer"}
INPUT_PARTS = {"input_text", "input_image", "input_file", "input_audio"}
OUTPUT_PARTS = {"output_text", "refusal"}
ITEM_TYPES = {"message", "reasoning", "function_call", "function_call_output", "item_reference"}
# Item types the spec defines that this server does not implement: a clear 400, never a 5xx.
UNSUPPORTED_ITEM_TYPES = {
    "file_search_call", "computer_call", "computer_call_output", "web_search_call", "image_generation_call",
    "code_interpreter_call", "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
    "apply_patch_call", "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
    "mcp_approval_response", "mcp_call", "custom_tool_call_output", "custom_tool_call", "compaction",
    "tool_search_call", "tool_search_output", "additional_tools",
}
TOP_LEVEL = {
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "stream", "store",
    "tools", "tool_choice", "metadata", "text", "reasoning", "include", "parallel_tool_calls",
    "previous_response_id", "truncation", "user", "top_logprobs", "max_tool_calls", "background",
    "service_tier", "prompt_cache_key", "safety_identifier", "stream_options", "conversation", "prompt",
    "prompt_cache_retention", "context_management",
    # outside the pinned spec, but sent by the Codex CLI on every request; the official API takes it
    "client_metadata",
}
# The spec's `Tool` union (CreateResponse.tools): only function tools are run; the others are accepted
# and echoed as the official API takes them (the Codex CLI sends namespace, custom, web_search, tool_search).
TOOL_TYPES = {
    "function", "file_search", "computer", "computer_use_preview", "web_search", "web_search_2025_08_26", "mcp",
    "code_interpreter", "programmatic_tool_calling", "image_generation", "local_shell", "shell", "custom",
    "namespace", "tool_search", "web_search_preview", "web_search_preview_2025_03_11", "apply_patch",
}


def bad(param: str, message: str, code: str | None = None, status: int = 400) -> ApiError:
    return ApiError(status, message, param, code)


def _type(req: dict[str, Any], key: str, types: tuple[type, ...], what: str, nullable: bool = True) -> None:
    if key not in req:
        return
    value = req[key]
    if value is None and nullable:
        return
    if isinstance(value, bool) and bool not in types:
        raise bad(key, f"Invalid type for '{key}': expected {what}, but got a boolean instead.",
                  "invalid_type")
    if not isinstance(value, types):
        raise bad(key, f"Invalid type for '{key}': expected {what}, but got {type(value).__name__} instead.",
                  "invalid_type")


def _range(req: dict[str, Any], key: str, low: float, high: float | None) -> None:
    value = req.get(key)
    if value is None:
        return
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad(key, f"Invalid '{key}': {value}. Expected a value {bound}.", "invalid_value")


def validate_request(req: Any) -> dict[str, Any]:
    if not isinstance(req, dict):
        raise bad(None, "The request body must be a JSON object.")  # type: ignore[arg-type]
    unknown = sorted(set(req) - TOP_LEVEL)
    if unknown:
        raise bad(unknown[0], f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter")
    _type(req, "model", (str,), "a string", nullable=False)
    if "model" not in req:
        raise bad("model", "Missing required parameter: 'model'.", "missing_required_parameter")
    if req["model"] not in MODELS:
        raise ApiError(404, f"The model '{req['model']}' does not exist or you do not have access to it.",
                       "model", "model_not_found")
    _type(req, "input", (str, list), "a string or an array of input items")
    _type(req, "instructions", (str, list), "a string")
    _type(req, "max_output_tokens", (int,), "an integer")
    _range(req, "max_output_tokens", 16, None)
    _type(req, "temperature", (int, float), "a number")
    _range(req, "temperature", 0, 2)
    _type(req, "top_p", (int, float), "a number")
    _range(req, "top_p", 0, 1)
    _type(req, "top_logprobs", (int,), "an integer")
    _range(req, "top_logprobs", 0, 20)
    for key in ("stream", "store", "parallel_tool_calls", "background"):
        _type(req, key, (bool,), "a boolean")
    for key in ("previous_response_id", "user"):
        _type(req, key, (str,), "a string")
    _type(req, "tools", (list,), "an array of tools")
    _type(req, "metadata", (dict,), "an object")
    _type(req, "text", (dict,), "an object")
    _type(req, "reasoning", (dict,), "an object")
    _type(req, "include", (list,), "an array of strings")
    if req.get("background"):
        raise bad("background", "Background mode is not supported by this server.", "unsupported_parameter")
    if req.get("truncation") not in (None, "auto", "disabled"):
        raise bad("truncation", f"Invalid value for 'truncation': {req['truncation']!r}.", "invalid_value")
    for i, value in enumerate(req.get("include") or []):
        if value not in INCLUDE_VALUES:
            raise bad(f"include[{i}]", f"Invalid value for 'include[{i}]': {value!r}.", "invalid_value")
    metadata = req.get("metadata") or {}
    if len(metadata) > 16:
        raise bad("metadata", "Invalid 'metadata': too many keys (at most 16).", "invalid_value")
    for k, v in metadata.items():
        if not isinstance(v, str) or len(k) > 64 or len(v) > 512:
            raise bad(f"metadata.{k}", "Invalid 'metadata': values must be strings of at most 512 characters "
                      "and keys at most 64 characters.", "invalid_value")
    effort = (req.get("reasoning") or {}).get("effort")
    if effort not in (None, "none", "minimal", "low", "medium", "high", "xhigh"):
        raise bad("reasoning.effort", f"Invalid value for 'reasoning.effort': {effort!r}.", "invalid_value")
    _validate_text(req.get("text") or {})
    _validate_tools(req)
    if isinstance(req.get("input"), list):
        for i, item in enumerate(req["input"]):
            validate_item(item, f"input[{i}]")
    if isinstance(req.get("instructions"), list):  # items, as in input (never a 5xx on garbage)
        for i, item in enumerate(req["instructions"]):
            validate_item(item, f"instructions[{i}]")
    if isinstance(req.get("input"), str) or req.get("input") is None:
        pass
    return req


def _validate_text(text: dict[str, Any]) -> None:
    fmt = text.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_schema", "json_object"):
        raise bad("text.format.type", "Invalid value for 'text.format.type'.", "invalid_value")
    if fmt["type"] == "json_schema":
        if not isinstance(fmt.get("name"), str) or not fmt["name"]:
            raise bad("text.format.name", "Missing required parameter: 'text.format.name'.",
                      "missing_required_parameter")
        if not isinstance(fmt.get("schema"), dict):
            raise bad("text.format.schema", "Missing required parameter: 'text.format.schema'.",
                      "missing_required_parameter")


def _validate_tools(req: dict[str, Any]) -> None:
    names = []
    for i, tool in enumerate(req.get("tools") or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise bad(f"tools[{i}].type", f"Missing required parameter: 'tools[{i}].type'.",
                      "missing_required_parameter")
        _validate_tool(tool, f"tools[{i}]")
        if tool["type"] == "function":
            names.append(tool["name"])
    choice = req.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise bad("tool_choice", f"Invalid value for 'tool_choice': {choice!r}.", "invalid_value")
        if choice == "required" and not names:
            raise bad("tool_choice", "Tool choice 'required' needs at least one tool in 'tools'.",
                      "invalid_value")
    elif isinstance(choice, dict):
        if choice.get("type") != "function" or choice.get("name") not in names:
            raise bad("tool_choice", "Tool choice names a function that is not in 'tools'.", "invalid_value")
    else:
        raise bad("tool_choice", "Invalid type for 'tool_choice'.", "invalid_type")


def _validate_tool(tool: dict[str, Any], where: str, inner: tuple[str, ...] = ()) -> None:
    kind = tool["type"]
    if kind not in (inner or TOOL_TYPES):
        raise bad(f"{where}.type", f"Invalid value: {kind!r}. Supported values are: "
                  + ", ".join(sorted(inner or TOOL_TYPES)) + ".", "invalid_value")
    if kind in ("function", "custom", "namespace") and (not isinstance(tool.get("name"), str) or not tool["name"]):
        raise bad(f"{where}.name", f"Missing required parameter: '{where}.name'.", "missing_required_parameter")
    fmt = tool.get("format") if kind == "custom" else None
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in ("text", "grammar") or (
            fmt["type"] == "grammar" and (fmt.get("syntax") not in ("lark", "regex")
                                          or not isinstance(fmt.get("definition"), str)))):
        raise bad(f"{where}.format", f"Invalid value for '{where}.format'.", "invalid_value")
    if kind == "namespace":
        members = tool.get("tools")
        if not isinstance(members, list) or not members:
            raise bad(f"{where}.tools", f"Missing required parameter: '{where}.tools'.", "missing_required_parameter")
        for j, member in enumerate(members):
            if not isinstance(member, dict) or not isinstance(member.get("type"), str):
                raise bad(f"{where}.tools[{j}].type", f"Missing required parameter: '{where}.tools[{j}].type'.",
                          "missing_required_parameter")
            _validate_tool(member, f"{where}.tools[{j}]", ("function", "custom"))


def validate_item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise bad(where, f"Invalid type for '{where}': expected an input item object.", "invalid_type")
    kind = item.get("type", "message" if "role" in item else None)
    if kind is None:
        raise bad(f"{where}.type", f"Missing required parameter: '{where}.type'.", "missing_required_parameter")
    if kind in UNSUPPORTED_ITEM_TYPES:
        raise bad(f"{where}.type", f"Input items of type {kind!r} are not supported by this server.",
                  "unsupported_value")
    if kind not in ITEM_TYPES:
        raise bad(f"{where}.type", f"Invalid value: {kind!r}. Supported values are: "
                  + ", ".join(sorted(ITEM_TYPES | UNSUPPORTED_ITEM_TYPES)) + ".", "invalid_value")
    if kind == "message":
        role = item.get("role")
        if role not in ROLES:
            raise bad(f"{where}.role", f"Invalid value for '{where}.role': {role!r}.", "invalid_value")
        content = item.get("content")
        if isinstance(content, str):
            return
        if not isinstance(content, list):
            raise bad(f"{where}.content", f"Invalid type for '{where}.content': expected a string or an "
                      "array of content parts.", "invalid_type")
        allowed = OUTPUT_PARTS if role == "assistant" else INPUT_PARTS
        for j, part in enumerate(content):
            ptype = part.get("type") if isinstance(part, dict) else None
            if ptype not in allowed and not (role == "assistant" and ptype == "input_text"):
                raise bad(f"{where}.content[{j}].type",
                          f"Invalid value: {ptype!r}. Supported values for role {role!r} are: "
                          + ", ".join(sorted(allowed)) + ".", "invalid_value")
            if ptype in ("input_text", "output_text") and not isinstance(part.get("text"), str):
                raise bad(f"{where}.content[{j}].text", "Missing required parameter: 'text'.",
                          "missing_required_parameter")
    elif kind == "reasoning":
        summary = item.get("summary", [])
        if not isinstance(summary, list):
            raise bad(f"{where}.summary", f"Invalid type for '{where}.summary': expected an array.",
                      "invalid_type")
        for key in ("summary", "content"):
            for j, part in enumerate(item.get(key) or []):
                if not isinstance(part, dict) or not isinstance(part.get("text"), str):
                    raise bad(f"{where}.{key}[{j}]", f"Invalid '{where}.{key}[{j}]': expected a text part.",
                              "invalid_value")
    elif kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            if not isinstance(item.get(key), str):
                raise bad(f"{where}.{key}", f"Missing required parameter: '{where}.{key}'.",
                          "missing_required_parameter")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise bad(f"{where}.call_id", f"Missing required parameter: '{where}.call_id'.",
                      "missing_required_parameter")
        if not isinstance(item.get("output"), str | list):
            raise bad(f"{where}.output", f"Missing required parameter: '{where}.output'.",
                      "missing_required_parameter")
    elif kind == "item_reference" and not isinstance(item.get("id"), str):
        raise bad(f"{where}.id", f"Missing required parameter: '{where}.id'.", "missing_required_parameter")
