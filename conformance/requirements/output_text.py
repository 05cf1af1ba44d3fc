"""Requirements of the 'output_text' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "output_text"

REQUIREMENTS: list[Requirement] = []
