"""The pipeline's image sets, read once; the evaluation labels are kept behind one method.

Every stage before ``evaluation`` sees the evaluation set *blinded* (its ``label`` column
emptied); only :meth:`Inputs.evaluation_truth` reads the labels, and only the evaluation stage
calls it. Tests replace it with a function that raises to prove nothing else does. Before any
work, :meth:`Inputs.check_target` reads the *names* the labels use (never which image has which)
to refuse a target that none of them spells.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rura.data.manifest import Manifest
from rura.errors import RuraError, UnknownOptionError
from rura.features.store import manifest_digest
from rura.pipeline.config import DataSet, PipelineConfig, dataset_spec, resolve_path


@dataclass
class Inputs:
    """Lazy access to the configured data sets."""

    config: PipelineConfig
    base: Path

    def _read(self, key: DataSet) -> Manifest:
        from rura.data.spec import resolve_dataset

        spec = getattr(self.config.data, key)
        options = self.config.data.options.get(key) or {}
        try:
            return resolve_dataset(dataset_spec(spec, self.base), **options)
        except UnknownOptionError as error:
            raise RuraError(f"data.options.{key}: {error}") from None
        except RuraError as error:
            raise RuraError(f"data.{key}: {error}") from None
        except TypeError as error:  # an option the reader does not take
            raise RuraError(f"data.options.{key}: {error}") from None

    @cached_property
    def known(self) -> Manifest:
        """The labelled known diseases; refuses any image of the target."""
        known = self._read("known")
        target = self.config.target
        leaked = int((known.table["label"] == target).sum())
        if leaked:
            raise RuraError(
                f"data.known ({known.source}): {leaked} images are labelled {target!r}, the "
                "target; zero-shot never trains on the target's images (remove them)"
            )
        return known

    @cached_property
    def lesions(self) -> Manifest:
        """The lesion-annotated set the segmenter trains on."""
        return self._read("lesions")

    @cached_property
    def target_examples(self) -> Path:
        """The folder of example images of the target (similarity only)."""
        return resolve_path(str(self.config.data.target_examples), self.base)

    @cached_property
    def _evaluation(self) -> Manifest:
        return self._read("evaluation")

    @cached_property
    def evaluation(self) -> Manifest:
        """The evaluation set, blinded: its labels are emptied."""
        table = self._evaluation.table.copy()
        table["label"] = ""
        table["grade"] = ""
        return Manifest(
            table,
            self._evaluation.root,
            source=self._evaluation.source,
            allow_outside_root=self._evaluation.allow_outside_root,
        )

    def read_all(self) -> None:
        """Read every configured set now (each is cached), so an unreadable set or a known set
        holding the target fails before any work."""
        config = self.config
        known = self.known
        _ = self.evaluation
        wanted = {"normal": config.normal}
        if not config.similarity.enabled and config.diagnosis.fit_on == "similar":
            wanted["similarity.most_similar"] = str(config.similarity.most_similar)
        for key, label in wanted.items():
            if label not in known.labels:
                raise RuraError(
                    f"{key} {label!r}: no image of data.known ({known.source}) is labelled so; "
                    f"its labels are {', '.join(known.labels)}"
                )
        if config.data.lesions is not None and config.segmentation.enabled:
            from rura.pipeline.config import given_segmenter

            if given_segmenter(config) is None:
                missing = [x for x in config.segmentation.lesions if x not in self.lesions.lesions]
                if missing:
                    raise RuraError(
                        f"segmentation.lesions: data.lesions ({self.lesions.source}) has no "
                        f"mask_{missing[0]} column; it has masks for "
                        f"{', '.join(self.lesions.lesions) or 'no lesion'}: set "
                        "segmentation.lesions among them"
                    )
        _ = self.separate_reference

    def check_target(self) -> None:
        """Refuse a target that no evaluation label names (a misspelt target would score every
        image as unscored or as normal), suggesting the closest label."""
        import difflib

        names = sorted({str(name) for name in self._evaluation.table["label"]} - {""})
        target = self.config.target
        if not names or target in names:
            return
        folded = {_fold(name): name for name in names}
        close = folded.get(_fold(target)) or next(
            iter(difflib.get_close_matches(target, names, n=1, cutoff=0.5)), None
        )
        hint = f"; did you mean {close!r}?" if close else ""
        raise RuraError(
            f"target {target!r}: no image of data.evaluation ({self._evaluation.source}) is "
            f"labelled so; its labels are {', '.join(names[:8])}{hint} (set target to one)"
        )

    def evaluation_truth(self) -> np.ndarray:
        """The evaluation labels (in the blinded set's row order): for scoring only."""
        return self._evaluation.table["label"].to_numpy()

    def evaluation_labels(self) -> dict[str, str]:
        """Each evaluation id's label (reads :meth:`evaluation_truth`): for scoring only."""
        ids = self.evaluation.table["id"]
        return dict(zip(ids, self.evaluation_truth(), strict=True))

    def evaluation_digest(self) -> str:
        """A hash of the evaluation set including its labels (the evaluation stage's input)."""
        return manifest_digest(self._evaluation)

    def fit_set(self, most_similar: str | None) -> Manifest:
        """Known images the clusterer fits on: normal and the similar disease, or all known."""
        known = self.known
        labels = known.table["label"]
        if self.config.diagnosis.fit_on == "known":
            return known.subset((labels != "").to_numpy())
        wanted = [self.config.normal, most_similar]
        for label in wanted:
            if not (labels == label).any():
                raise RuraError(
                    f"data.known ({known.source}): no image labelled {label!r}; labels are "
                    f"{', '.join(known.labels)}"
                )
        return known.subset(labels.isin(wanted).to_numpy())

    @cached_property
    def separate_reference(self) -> Manifest | None:
        """``data.reference`` when given; otherwise the reference is the known normal images."""
        return self._read("reference") if self.config.data.reference else None

    def reference_ids(self) -> list[str]:
        """Ids of the known set's normal images (the default reference)."""
        known = self.known
        ids = known.table["id"][known.table["label"] == self.config.normal].tolist()
        if not ids:
            raise RuraError(
                f"data.known ({known.source}): no image labelled {self.config.normal!r} for the "
                "reference mapping; add normal images or set data.reference"
            )
        return ids


def _fold(name: str) -> str:
    """A label without case, spaces, dashes or underscores (``Mild-DR`` is ``mild_dr``)."""
    return "".join(ch for ch in name.lower() if ch.isalnum())
