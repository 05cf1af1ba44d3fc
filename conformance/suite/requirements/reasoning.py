"""Requirements of the 'reasoning' area: reasoning items in the output, and handed back as input.

The seed scenario (SEED-001..004) covers the basic round trip: reasoning before the message,
the whole output handed back with a new question.  This area covers the reasoning item's shape,
reasoning kept out of the answer, its token count, and the other ways clients hand reasoning
back: alone (vLLM's example), summary-only, encrypted, over several turns, with tool calls,
among developer/system messages, without ids.  Whether the history reaches the model is measured
model-independently by `usage.input_tokens`, so it works with any model, even one that always
answers the same text.
"""

from conformance.suite.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "reasoning"

HAND_BACK = "Be sure to include these items in your `input` to the Responses API for subsequent turns"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "REASON-ITEM-001", MUST, AREA,
        "Every reasoning item has a non-empty id and a summary array (empty when there is no summary)",
        "ReasoningItem (required: id, summary, type)", basis="spec-schema", feature="reasoning",
        quote="summary: Reasoning summary content.",
    ),
    Requirement(
        "REASON-ITEM-002", MUST, AREA,
        "A reasoning item's content, when given, is reasoning_text parts; its summary is summary_text parts",
        "ReasoningItem.content (ReasoningTextContent); ReasoningItem.summary (SummaryTextContent)",
        basis="spec-schema", feature="reasoning",
        quote="content: Reasoning text content.",
    ),
    Requirement(
        "REASON-LEAK-001", MUST, AREA,
        "The answer's output_text holds no reasoning markup (<think>, </think>) or chat-template special tokens",
        "OutputTextContent.text; ReasoningItem", basis="spec-text",
        quote="A description of the chain of thought used by a reasoning model while generating a response.",
    ),
    Requirement(
        "REASON-LEAK-002", SHOULD, AREA,
        "The reasoning text is not repeated in the answer's output_text",
        "OutputTextContent.text; ReasoningItem.content", basis="spec-text", feature="reasoning",
        quote="A description of the chain of thought used by a reasoning model while generating a response.",
    ),
    Requirement(
        "REASON-USAGE-001", SHOULD, AREA,
        "When reasoning text is returned, usage.output_tokens_details.reasoning_tokens counts it (> 0)",
        "ResponseUsage.output_tokens_details.reasoning_tokens", basis="api", feature="reasoning",
        quote="The number of reasoning tokens.",
    ),
    Requirement(
        "REASON-TURN-001", MUST, AREA,
        "Valid histories holding reasoning items are accepted: alone, summary-only, encrypted, 3 turns, tools, roles",
        "CreateResponse.input; InputItem (Item: ReasoningItem, FunctionToolCall, OutputMessage, InputMessage)",
        basis="spec-schema", feature="reasoning", quote=HAND_BACK,
    ),
    Requirement(
        "REASON-TURN-002", SHOULD, AREA,
        "Assistant messages handed back without id and status (as Codex and OpenResponses send them) are accepted",
        "CreateResponse.input; OutputMessage (id, status required) vs the API, which accepts them",
        basis="api", feature="reasoning",
    ),
    Requirement(
        "REASON-ENC-001", MUST, AREA,
        "With include reasoning.encrypted_content, every reasoning item carries a non-empty encrypted_content",
        "CreateResponse.include (IncludeEnum: reasoning.encrypted_content); ReasoningItem.encrypted_content",
        basis="spec-text", feature="reasoning.encrypted_content",
        quote="`reasoning.encrypted_content`: Includes an encrypted version of reasoning tokens in reasoning item "
              "outputs.",
    ),
    Requirement(
        "REASON-CTX-001", MUST, AREA,
        "Earlier turns handed back as input reach the model: input_tokens exceed those of the last message alone",
        "CreateResponse.input; ResponseUsage.input_tokens", basis="spec-text",
        quote="Text, image, or file inputs to the model, used to generate a response.",
    ),
    Requirement(
        "REASON-CTX-002", SHOULD, AREA,
        "A reasoning item handed back after the last user message reaches the model (input_tokens grow with it)",
        "CreateResponse.input; ReasoningItem; ResponseUsage.input_tokens", basis="api", feature="reasoning",
        quote=HAND_BACK,
    ),
]
