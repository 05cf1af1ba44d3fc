"""Requirements of the 'reasoning' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "reasoning"

REQUIREMENTS: list[Requirement] = []
