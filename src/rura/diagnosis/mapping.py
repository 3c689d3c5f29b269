"""Rules that decide which clusters mean "disease", without reading a target-disease label.

- ``reference``: the cluster nearest the centroid of known-normal reference images is normal,
  every other cluster is disease.
- ``lesion-burden``: the cluster with the smallest mean predicted lesion area is normal, every
  other cluster is disease.
- ``oracle``: each cluster takes the majority true label (Hungarian matching for two clusters).
  It reads the evaluation labels, so it is for comparison with published numbers only and is
  marked ``oracle`` in every output.
"""

from __future__ import annotations

import numpy as np

from rura.errors import RuraError, option

MAPPINGS: tuple[str, ...] = ("reference", "lesion-burden", "oracle")
LABEL_FREE: tuple[str, ...] = ("reference", "lesion-burden")


def map_by_reference(centroids: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """Disease flags per cluster: only the cluster nearest the reference centroid is normal."""
    if reference is None or len(reference) == 0:
        raise RuraError(
            "mapping 'reference' needs known-normal reference images (a data set as "
            f"{option('reference')}, or a label of the source set as {option('reference_label')})"
        )
    distances = np.linalg.norm(centroids - reference.mean(axis=0), axis=1)
    disease = np.ones(len(centroids), bool)
    disease[int(np.argmin(distances))] = False
    return disease


def map_by_lesion_burden(labels: np.ndarray, burden: np.ndarray | None, k: int) -> np.ndarray:
    """Disease flags per cluster: only the cluster with the least mean lesion area is normal."""
    if burden is None:
        raise RuraError(
            f"mapping 'lesion-burden' needs lesion masks: embed with {option('lesions')} "
            "(ground-truth or predicted masks in the manifest)"
        )
    means = np.array(
        [burden[labels == c].mean() if (labels == c).any() else np.inf for c in range(k)]
    )
    disease = np.ones(k, bool)
    disease[int(np.argmin(means))] = False
    return disease


def map_by_oracle(labels: np.ndarray, truth: np.ndarray | None, k: int) -> np.ndarray:
    """ORACLE: disease flags per cluster from the true labels (majority, Hungarian for k=2)."""
    if truth is None:
        raise RuraError("mapping 'oracle' needs the true labels of the images it is fit on")
    truth = np.asarray(truth, bool)
    if k == 2:
        from scipy.optimize import linear_sum_assignment

        agreement = np.array(
            [[((labels == c) & (truth == t)).sum() for t in (0, 1)] for c in range(2)]
        )
        rows, cols = linear_sum_assignment(-agreement)
        return np.array([bool(cols[list(rows).index(c)]) for c in range(2)])
    return np.array(
        [truth[labels == c].mean() > 0.5 if (labels == c).any() else False for c in range(k)]
    )
