"""Requirements of the 'streaming' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "streaming"

REQUIREMENTS: list[Requirement] = []
