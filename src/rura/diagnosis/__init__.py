"""The zero-shot diagnoser: clusters of a similar disease's features become a diagnosis."""

from rura.diagnosis.diagnoser import ZeroShotDiagnoser
from rura.diagnosis.mapping import MAPPINGS

__all__ = ["MAPPINGS", "ZeroShotDiagnoser"]
