"""Planted defects of the 'output_text' area: the answer's text, whole and streamed."""

from __future__ import annotations

from conformance.refserver.defects import defect


@defect("answer-swallowed-by-reasoning", targets=["OTEXT-001"],
        modelled_on="vLLM qwen3/deepseek_r1 reasoning parsers: without </think> the whole output goes to "
        "reasoning_content and the message's text is empty")
class AnswerSwallowedByReasoning:
    """The answer ends up in the reasoning item; the message's output_text is empty."""

    def plan(ctx, plan):
        if plan.reasoning is not None and plan.text:
            plan.reasoning = f"{plan.reasoning} {plan.text}"
            plan.text = ""
        return plan


@defect("output-text-field-includes-reasoning", targets=["OTEXT-002"],
        modelled_on="servers that add a convenience output_text by joining the text parts of every output item, "
        "reasoning items included")
class OutputTextFieldIncludesReasoning:
    """The response carries an output_text field joining every item's text parts, reasoning included."""

    def response(ctx, resp):
        resp["output_text"] = "".join(p.get("text", "") for it in resp["output"] for p in it.get("content") or [])
        return resp


@defect("text-deltas-lose-spaces", targets=["OTEXT-003"],
        modelled_on="token-by-token detokenizing that drops the leading space of SentencePiece/BPE tokens in "
        "output_text deltas")
class TextDeltasLoseSpaces:
    """output_text deltas lose their surrounding spaces, so they do not join to the final text."""

    def events(ctx, evs):
        for ev in evs:
            if ev["type"] == "response.output_text.delta":
                ev["delta"] = ev["delta"].strip()
        return evs


@defect("output-text-done-missing", targets=["OTEXT-004"],
        modelled_on="Llama Stack / OGX #5309 (fix PR #5308 closed): no response.output_text.done event")
class OutputTextDoneMissing:
    """Message text is never finalized by response.output_text.done."""

    def events(ctx, evs):
        return [ev for ev in evs if ev["type"] != "response.output_text.done"]
