"""The zero-shot diagnoser: clusters of a similar disease's features become a diagnosis."""

from rura.diagnosis.bundle import PipelineBundle, load_bundle, save_bundle
from rura.diagnosis.diagnoser import ZeroShotDiagnoser
from rura.diagnosis.mapping import MAPPINGS
from rura.diagnosis.model import Diagnosis, DiagnosisModel, Findings, load_model

__all__ = [
    "MAPPINGS",
    "Diagnosis",
    "DiagnosisModel",
    "Findings",
    "PipelineBundle",
    "ZeroShotDiagnoser",
    "load_bundle",
    "load_model",
    "save_bundle",
]
