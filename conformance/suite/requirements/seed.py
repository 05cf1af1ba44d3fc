"""The seed scenario: reasoning items handed back as input on the next turn.

The core use of a reasoning model through the Responses API (vLLM's
`examples/online_serving/openai_responses_client.py`, OpenAI's reasoning guide "keeping
reasoning items in context"): call, append the returned output (with its `reasoning` items,
unchanged) to the input list, call again, read `output_text`.
"""

from conformance.suite.requirements import MUST, Requirement

AREA = "seed"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "SEED-001", MUST, AREA,
        "A reasoning model's output has a reasoning item before the assistant message",
        "Response.output; ReasoningItem", basis="spec-text", feature="reasoning",
        quote="Be sure to include these items in your `input` to the Responses API for subsequent turns",
    ),
    Requirement(
        "SEED-002", MUST, AREA,
        "Returned output items, reasoning included, are accepted unchanged as input of the next turn",
        "CreateResponse.input; InputItem (Item: ReasoningItem)", basis="spec-text", feature="reasoning",
        quote="Be sure to include these items in your `input` to the Responses API for subsequent turns",
    ),
    Requirement(
        "SEED-003", MUST, AREA,
        "The second turn's answer has non-empty output_text equal to its output_text parts joined",
        "Response.output_text (SDK property); OutputMessage.content", basis="sdk",
    ),
    Requirement(
        "SEED-004", MUST, AREA,
        "The seed scenario works through the official openai SDK (responses.create, output_text)",
        "openai-python Responses.create / Response.output_text", basis="sdk", feature="reasoning",
    ),
]
