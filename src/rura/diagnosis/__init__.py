"""The zero-shot diagnoser: clusters of a similar disease's features become a diagnosis."""

from rura.diagnosis.diagnoser import ZeroShotDiagnoser
from rura.diagnosis.mapping import MAPPINGS

__all__ = ["MAPPINGS", "ZeroShotDiagnoser"]
from rura.diagnosis.bundle import PipelineBundle, load_bundle, save_bundle

__all__ += ["PipelineBundle", "load_bundle", "save_bundle"]
