"""Planted defects of the 'state' area: stored responses and previous_response_id."""

from __future__ import annotations

import json

from conformance.refserver.defects import defect
from conformance.refserver.engine import ApiError


def _body(ctx) -> dict:
    return ctx.body if isinstance(ctx.body, dict) else {}


def _not_found(what: str) -> tuple[int, dict]:
    return 404, {"error": {"message": f"Response with id '{what}' not found.", "type": "invalid_request_error",
                           "param": "response_id", "code": "not_found"}}


@defect("store-switched-off", targets=["STATE-STORE-001", "STATE-GET-001", "STATE-NULLSTORE-001", "STATE-PREV-001",
                                       "STATE-PREV-002", "STATE-INPUT-001", "STATE-DELETE-001", "PARAM-INSTR-003"],
        modelled_on="vLLM without VLLM_ENABLE_RESPONSES_API_STORE (#22137: store silently forced to false); "
        "SGLang PR #39122 (store off by default, §3 #45)")
class StoreSwitchedOff:
    """Store switched off: store is silently ignored, every stored-response route and previous id is 404."""

    def store(ctx, resp):
        return None

    def route(ctx, value, method, path):
        parts = path.rstrip("/").split("/")
        if len(parts) >= 4 and parts[:3] == ["", "v1", "responses"] and method in ("GET", "DELETE"):
            return _not_found(parts[3])
        return None

    def request(ctx, body):
        prev = body.get("previous_response_id") if isinstance(body, dict) else None
        if prev is not None:
            raise ApiError(404, f"Response with id '{prev}' not found.", "previous_response_id", "not_found")
        return body


@defect("stored-stream-snapshot-stale", targets=["STATE-GET-001"],
        modelled_on="LM Studio lmstudio-bug-tracker#1188 (a streamed response is not found as stored afterwards); "
        "here the store keeps the response.created snapshot")
class StoredStreamSnapshotStale:
    """A streamed response is stored as its in-progress snapshot: GET says in_progress, with no output."""

    def store(ctx, resp):
        if ctx.stream:
            resp.update(status="in_progress", output=[], usage=None, incomplete_details=None, completed_at=None)
        return resp


@defect("response-ids-not-retrievable", targets=["STATE-STORE-001"],
        modelled_on="vLLM PR #25428 (retrieve crashed for response ids not starting with 'resp_', e.g. a "
        "client-set request_id)")
class ResponseIdsNotRetrievable:
    """Responses get ids without the resp_ prefix, and GET of such an id fails with 500."""

    def response(ctx, resp):
        ctx.state["id"] = resp["id"]
        resp["id"] = "req-" + resp["id"].removeprefix("resp_")
        return resp

    def store(ctx, resp):
        resp["id"] = ctx.state.get("id", resp["id"])
        return resp

    def route(ctx, value, method, path):
        parts = path.rstrip("/").split("/")
        if len(parts) >= 4 and parts[:3] == ["", "v1", "responses"] and method == "GET" \
                and not parts[3].startswith("resp_"):
            return 500, {"error": {"message": "list index out of range", "type": "server_error", "param": None,
                                   "code": None}}
        return None


@defect("input-items-without-ids", targets=["STATE-INPUT-001"],
        modelled_on="stores that keep the request's input as sent (EasyInputMessage, no ids) and list it as is")
class InputItemsWithoutIds:
    """GET .../input_items lists the input as it was sent: items without ids."""

    def reply(ctx, value):
        status, headers, body = value
        if ctx.method == "GET" and ctx.path.rstrip("/").endswith("/input_items") and status == 200:
            page = json.loads(body)
            for item in page.get("data", []):
                item.pop("id", None)
            return status, headers, json.dumps(page).encode()
        return value


@defect("input-items-order-ignored", targets=["STATE-INPUT-002"],
        modelled_on="list endpoints that ignore `order` and return insertion order (oldest first), against the "
        "documented default desc")
class InputItemsOrderIgnored:
    """GET .../input_items ignores order: always oldest first, although the default is desc."""

    def reply(ctx, value):
        status, headers, body = value
        path = ctx.path.rstrip("/")
        if ctx.method == "GET" and path.endswith("/input_items") and status == 200:
            with ctx.server.lock:
                ids = [it.get("id") for it in ctx.server.input_items.get(path.split("/")[3], [])]
            page = json.loads(body)
            page["data"].sort(key=lambda it: ids.index(it.get("id")) if it.get("id") in ids else len(ids))
            return status, headers, json.dumps(page).encode()
        return value


@defect("delete-not-routed", targets=["STATE-DELETE-001"],
        modelled_on="vLLM: DELETE /v1/responses/{id} is not routed (notes §1.2), FastAPI answers 405")
class DeleteNotRouted:
    """DELETE /v1/responses/{id} is not routed: 405 Method Not Allowed."""

    def route(ctx, value, method, path):
        if method == "DELETE" and path.startswith("/v1/responses/"):
            return 405, {"detail": "Method Not Allowed"}
        return None


@defect("delete-not-effective", targets=["STATE-DELETE-001"],
        modelled_on="a DELETE that answers deleted: true while a cache in front of the store keeps serving the "
        "response")
class DeleteNotEffective:
    """DELETE /v1/responses/{id} answers deleted: true, but GET still returns the response."""

    def route(ctx, value, method, path):
        parts = path.rstrip("/").split("/")
        if method == "DELETE" and len(parts) == 4 and parts[:3] == ["", "v1", "responses"]:
            ctx.server.get_stored(parts[3])
            return 200, {"id": parts[3], "object": "response", "deleted": True}
        return None


@defect("store-false-ignored", targets=["STATE-NOSTORE-001"],
        modelled_on="servers that persist every response (conversation stores behind a gateway) whatever store "
        "says, against the client's data-retention choice")
class StoreFalseIgnored:
    """store: false is echoed, but the response is kept and retrievable."""

    def request(ctx, body):
        if isinstance(body, dict) and body.get("store") is False:
            ctx.state["store"] = False
            body = {k: v for k, v in body.items() if k != "store"}
        return body

    def response(ctx, resp):
        if "store" in ctx.state:
            resp["store"] = False
        return resp


@defect("store-null-as-false", targets=["STATE-NULLSTORE-001"],
        modelled_on="vLLM tests/.../test_store_field.py (store: null treated as false until fixed, §3 #25)")
class StoreNullAsFalse:
    """store: null is treated as false: the response is not kept."""

    def request(ctx, body):
        if isinstance(body, dict) and "store" in body and body["store"] is None:
            body = {**body, "store": False}
        return body


@defect("unknown-response-500", targets=["STATE-UNKNOWN-001"],
        modelled_on="vLLM PR #25428 (retrieve of an unexpected id crashed with 500)")
class UnknownResponse500:
    """GET of an unknown response id fails with 500 (KeyError) instead of 404."""

    def route(ctx, value, method, path):
        parts = path.rstrip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[:3] == ["", "v1", "responses"]:
            with ctx.server.lock:
                known = parts[3] in ctx.server.responses
            if not known:
                return 500, {"error": {"message": f"KeyError: '{parts[3]}'", "type": "server_error", "param": None,
                                       "code": None}}
        return None


@defect("unknown-response-detail-404", targets=["STATE-UNKNOWN-001"],
        modelled_on="FastAPI's default 404 body {\"detail\": \"Not Found\"} (vLLM before PR #22099, §3 #35)")
class UnknownResponseDetail404:
    """GET of an unknown response id is 404 with {"detail": ...} instead of the error object."""

    def route(ctx, value, method, path):
        parts = path.rstrip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[:3] == ["", "v1", "responses"]:
            with ctx.server.lock:
                known = parts[3] in ctx.server.responses
            if not known:
                return 404, {"detail": "Not Found"}
        return None


@defect("previous-id-not-echoed", targets=["STATE-PREV-001"],
        modelled_on="echo gaps of Responses bridges (vLLM from_request, §3 #34): previous_response_id null")
class PreviousIdNotEchoed:
    """A continued response echoes previous_response_id as null."""

    def response(ctx, resp):
        resp["previous_response_id"] = None
        return resp


@defect("previous-response-ignored", targets=["STATE-PREV-002"],
        modelled_on="mlx-vlm #1046 (previous_response_id accepted and ignored)")
class PreviousResponseIgnored:
    """previous_response_id is accepted and echoed, but the earlier turn never reaches the model."""

    def context(ctx, item, where):
        # keep the calls known (so outputs still match a call), drop everything the model would read
        if where.startswith("previous[") and item.get("type") != "function_call":
            return None
        return item


@defect("previous-drops-tool-outputs", targets=["STATE-PREV-003"],
        modelled_on="vLLM #43244 / PR #43247 (previous_response_id drops the prior function_call_output from the "
        "context)")
class PreviousDropsToolOutputs:
    """Continuing with previous_response_id drops the earlier function_call_output items from the context."""

    def context(ctx, item, where):
        if where.startswith("previous[") and item.get("type") == "function_call_output":
            return None
        return item


@defect("unknown-previous-accepted", targets=["STATE-PREV-004"],
        modelled_on="servers without a store that accept any previous_response_id and answer without context "
        "(mlx-vlm #1046)")
class UnknownPreviousAccepted:
    """An unknown previous_response_id is accepted: the answer comes without any earlier context."""

    def request(ctx, body):
        prev = body.get("previous_response_id") if isinstance(body, dict) else None
        with ctx.server.lock:
            known = prev in ctx.server.chains
        if prev is not None and not known:
            ctx.state["previous_response_id"] = prev
            body = {k: v for k, v in body.items() if k != "previous_response_id"}
        return body

    def response(ctx, resp):
        if "previous_response_id" in ctx.state:
            resp["previous_response_id"] = ctx.state["previous_response_id"]
        return resp

