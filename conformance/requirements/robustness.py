"""Requirements of the 'robustness' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "robustness"

REQUIREMENTS: list[Requirement] = []
