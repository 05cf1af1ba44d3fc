"""Requirements of the 'response' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "response"

REQUIREMENTS: list[Requirement] = []
