"""The reference server's deterministic "models" and the Responses API semantics around them.

Standard library only.  Two models are served:

- `ref-reasoner`: thinks first (a `reasoning` item), then answers (a `message`), like Qwen3
  with a reasoning parser;
- `ref-plain`: answers directly.

A "token" is a word or a punctuation mark (`tokens()`), so token counts are exact and input
token counts grow with everything the context holds: instructions, earlier turns, reasoning
items given back, tool calls and outputs.  Answers are built from the request, deterministic
for a given request, and long enough (> 16 tokens) that small `max_output_tokens` truncate.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

MODELS = {
    "ref-reasoner": {"reasoning": True},
    "ref-plain": {"reasoning": False},
}
DEFAULT_MODEL = "ref-reasoner"
ENCRYPTED_PREFIX = "rcenc1:"
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def detokenize(toks: list[str]) -> str:
    out = ""
    for t in toks:
        word_after_word = (t[0].isalnum() or t[0] == "_") and (out[-1:].isalnum() or out[-1:] in ".,;:!?)")
        if out and (word_after_word or (t in "([{" and out[-1] != " ")):
            out += " "
        out += t
    return out


class ApiError(Exception):
    """A request the API rejects: becomes `{"error": {...}}` with this status."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --------------------------------------------------------------------------------------------
# Context: what the model "reads"


@dataclass
class Context:
    """The conversation as the model sees it, flattened to text segments."""

    segments: list[tuple[str, str]] = field(default_factory=list)  # (role/kind, text)
    last_user: str = ""
    pending_tool_outputs: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, kind: str, text: str) -> None:
        if text:
            self.segments.append((kind, text))

    @property
    def n_tokens(self) -> int:
        return sum(len(tokens(t)) for _, t in self.segments)


def text_of_content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif isinstance(part.get("refusal"), str):
                    parts.append(part["refusal"])
        return " ".join(parts)
    return ""


def decode_encrypted(value: str) -> str:
    if not value.startswith(ENCRYPTED_PREFIX):
        raise ValueError("not produced by this server")
    return base64.b64decode(value[len(ENCRYPTED_PREFIX):].encode(), validate=True).decode()


def encode_encrypted(text: str) -> str:
    return ENCRYPTED_PREFIX + base64.b64encode(text.encode()).decode()


def read_item(ctx: Context, item: dict[str, Any], where: str, *, replay: bool = False) -> None:
    """Add one input item to the context (item already shape-checked)."""
    kind = item.get("type", "message")
    if kind == "message":
        text = text_of_content(item.get("content"))
        role = item.get("role", "user")
        ctx.add(role, text)
        if role == "user":
            ctx.last_user = text
            ctx.pending_tool_outputs = []
    elif kind == "reasoning":
        texts = [p.get("text", "") for p in item.get("summary") or [] if isinstance(p, dict)]
        texts += [p.get("text", "") for p in item.get("content") or [] if isinstance(p, dict)]
        enc = item.get("encrypted_content")
        if isinstance(enc, str):
            try:
                texts.append(decode_encrypted(enc))
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "The encrypted content of the reasoning item could not be verified.",
                               f"{where}.encrypted_content", "invalid_encrypted_content") from None
        ctx.add("reasoning", " ".join(t for t in texts if t))
    elif kind == "function_call":
        ctx.add("function_call", f"{item.get('name', '')} {item.get('arguments', '')}")
        ctx.calls[item.get("call_id", "")] = item
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else text_of_content(output)
        ctx.add("tool", text)
        if not replay:
            ctx.pending_tool_outputs.append({"call_id": item.get("call_id"), "output": text})
    elif kind == "item_reference":
        pass  # resolved by the caller


# --------------------------------------------------------------------------------------------
# Generation


@dataclass
class Plan:
    """What the model will output, before max_output_tokens is applied."""

    reasoning: str | None
    summary: str | None
    text: str | None
    calls: list[dict[str, Any]] = field(default_factory=list)


def sample_value(schema: Any, hint: str, name: str = "") -> Any:
    """A value that satisfies a (simple) JSON Schema, drawn from the prompt where it can be."""
    if not isinstance(schema, dict):
        return hint or "value"
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample_value(schema[key][0], hint, name)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: sample_value(v, hint, k) for k, v in props.items()}
    if typ == "array":
        n = max(1, int(schema.get("minItems", 1)))
        return [sample_value(schema.get("items", {}), hint, name) for _ in range(n)]
    if typ == "integer":
        return int(schema.get("minimum", 3))
    if typ == "number":
        return float(schema.get("minimum", 3))
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    words = [w for w in re.findall(r"[A-Z][a-z]+", hint) if w not in ("What", "The", "Please", "Use", "Call")]
    return words[0] if words else (name or "value")


def choose_calls(req: dict[str, Any], ctx: Context) -> list[dict[str, Any]]:
    tools = [t for t in req.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    choice = req.get("tool_choice", "auto")
    if not tools or choice == "none" or ctx.pending_tool_outputs:
        return []
    prompt = ctx.last_user.lower()
    if isinstance(choice, dict):
        named = [t for t in tools if t.get("name") == choice.get("name")]
        chosen = named[:1]
    else:
        chosen = [t for t in tools if t.get("name", "").lower() in prompt
                  or t.get("name", "").replace("_", " ").lower() in prompt]
        if not chosen and (choice == "required" or "tool" in prompt or "call" in prompt):
            chosen = tools[:1]
        if req.get("parallel_tool_calls") is False:
            chosen = chosen[:1]
    calls = []
    for tool in chosen:
        args = sample_value(tool.get("parameters") or {"type": "object", "properties": {}}, ctx.last_user)
        if not isinstance(args, dict):
            args = {}
        calls.append({"name": tool.get("name", ""), "arguments": json.dumps(args)})
    return calls


def make_plan(req: dict[str, Any], ctx: Context) -> Plan:
    model = MODELS.get(req.get("model") or DEFAULT_MODEL, MODELS[DEFAULT_MODEL])
    user = ctx.last_user.strip() or "(no question)"
    quoted = " ".join(tokens(user)[:12])
    earlier = max(0, sum(1 for kind, _ in ctx.segments if kind in ("user", "assistant")) - 1)
    reasoning = None
    summary = None
    if model["reasoning"]:
        reasoning = (f"The user asks: {quoted}. There are {earlier} earlier turns in the context; "
                     f"I will answer briefly and plainly.")
        effort = (req.get("reasoning") or {}).get("summary")
        if effort in ("auto", "concise", "detailed"):
            summary = "Answer the question briefly."
    calls = choose_calls(req, ctx)
    if calls:
        return Plan(reasoning, summary, None, calls)
    fmt = ((req.get("text") or {}).get("format") or {})
    if ctx.pending_tool_outputs:
        outputs = "; ".join(o["output"] for o in ctx.pending_tool_outputs)
        text = f"The tool returned: {outputs}. That is the result you asked for, in full."
    elif fmt.get("type") == "json_schema":
        text = json.dumps(sample_value(fmt.get("schema") or {}, user))
    elif fmt.get("type") == "json_object":
        text = json.dumps({"answer": f"You said: {quoted}", "turns": earlier})
    else:
        text = (f"Here is my answer. You said: {quoted}. I have read {earlier} earlier turns "
                f"of this conversation, and I answer in a few plain words.")
    return Plan(reasoning, summary, text)


def build_output(plan: Plan, req: dict[str, Any], limit: int | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Output items and usage for a plan under an output-token limit."""
    budget = limit if isinstance(limit, int) else None
    used = 0
    reasoning_used = 0
    items: list[dict[str, Any]] = []
    truncated = False
    include = req.get("include") or []

    def take(text: str) -> str:
        nonlocal used, truncated
        toks = tokens(text)
        if budget is not None and used + len(toks) > budget:
            toks = toks[: max(0, budget - used)]
            truncated = True
        used += len(toks)
        return detokenize(toks)

    if plan.reasoning is not None:
        text = take(plan.reasoning)
        reasoning_used = used
        item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": [],
                                "content": [{"type": "reasoning_text", "text": text}]}
        if plan.summary and not truncated:
            item["summary"] = [{"type": "summary_text", "text": plan.summary}]
        if "reasoning.encrypted_content" in include:
            item["encrypted_content"] = encode_encrypted(text)
        item["status"] = "incomplete" if truncated else "completed"
        items.append(item)
    if not truncated:
        for call in plan.calls:
            args = call["arguments"]
            n = len(tokens(args))
            if budget is not None and used + n > budget:
                truncated = True
                break
            used += n
            items.append({"id": new_id("fc"), "type": "function_call", "status": "completed",
                          "call_id": new_id("call"), "name": call["name"], "arguments": args})
    if plan.text is not None and not truncated and budget is not None and used >= budget:
        truncated = True  # the reasoning used the whole budget: no room left for an answer
    if plan.text is not None and not truncated:
        text = take(plan.text)
        items.append({
            "id": new_id("msg"), "type": "message", "role": "assistant",
            "status": "incomplete" if truncated else "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        })
    usage = {"output_tokens": used, "reasoning_tokens": reasoning_used, "truncated": truncated}
    return items, usage


def response_skeleton(req: dict[str, Any], resp_id: str) -> dict[str, Any]:
    """The response object's echoed fields, as OpenAI returns them."""
    tool_choice = req.get("tool_choice", "auto")
    text = req.get("text") or {}
    reasoning = req.get("reasoning")
    model = req.get("model") or DEFAULT_MODEL
    resp = {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": bool(req.get("background") or False),
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"),
        "max_tool_calls": req.get("max_tool_calls"),
        "model": model,
        "output": [],
        "parallel_tool_calls": req.get("parallel_tool_calls", True) is not False,
        "previous_response_id": req.get("previous_response_id"),
        "reasoning": {"effort": (reasoning or {}).get("effort"), "summary": (reasoning or {}).get("summary")}
        if MODELS.get(model, {}).get("reasoning") or reasoning else None,
        "service_tier": "default",
        "store": req.get("store") is not False,
        "temperature": req.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity", "medium")},
        "tool_choice": tool_choice,
        "tools": [_echo_tool(t) for t in req.get("tools") or []],
        "top_logprobs": req.get("top_logprobs", 0),
        "top_p": req.get("top_p", 1.0),
        "truncation": req.get("truncation", "disabled"),
        "usage": None,
        "metadata": req.get("metadata") or {},
    }
    if req.get("user") is not None:
        resp["user"] = req["user"]
    return resp


def _echo_tool(tool: Any) -> Any:
    """Tools are echoed with their defaults filled in, as the API does."""
    if isinstance(tool, dict) and tool.get("type") == "function":
        return {"strict": True, "parameters": None, "description": None, **tool}
    return tool


def finish(resp: dict[str, Any], items: list[dict[str, Any]], usage: dict[str, Any], input_tokens: int) -> None:
    resp["output"] = items
    if usage["truncated"]:
        resp["status"] = "incomplete"
        resp["incomplete_details"] = {"reason": "max_output_tokens"}
    else:
        resp["status"] = "completed"
        resp["completed_at"] = int(time.time())
    resp["usage"] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage["output_tokens"],
        "output_tokens_details": {"reasoning_tokens": usage["reasoning_tokens"]},
        "total_tokens": input_tokens + usage["output_tokens"],
    }


def output_text(resp: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in resp.get("output", []) if item.get("type") == "message"
        for part in item.get("content", []) if part.get("type") == "output_text"
    )
