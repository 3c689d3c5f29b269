"""The conformance checks behind :mod:`rura.testing`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rura.registry import Kind


def _resolve(kind: Kind, factory_or_name: Callable[..., Any] | str) -> Callable[..., Any]:
    if isinstance(factory_or_name, str):
        from rura.plugins import get_registry

        return get_registry().get(kind, factory_or_name).factory
    return factory_or_name


def _blobs(seed: int, n_per_blob: int = 20, n_features: int = 8) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * n_features, [10.0] * n_features, [-10.0, 10.0] * (n_features // 2)])
    X = np.concatenate([c + rng.normal(size=(n_per_blob, n_features)) for c in centres])
    y = np.repeat(np.arange(len(centres)), n_per_blob)
    order = rng.permutation(len(X))
    return X[order], y[order]


def check_clusterer(
    factory_or_name: Callable[..., Any] | str,
    *,
    params: dict[str, Any] | None = None,
    min_adjusted_rand: float = 0.9,
    deterministic: bool | None = None,
) -> None:
    """Check a clusterer factory ``(n_clusters, *, seed=None, **params)``.

    On three well-separated blobs: ``fit`` returns the estimator, ``labels_`` has one integer per
    row and at most ``n_clusters`` values, the blobs are recovered (adjusted Rand index at least
    ``min_adjusted_rand``), the same seed gives the same labels, and ``predict``, where present,
    returns one known label per new row. ``deterministic=True`` (the registration's metadata)
    also asks for the same labels from four seeds on structureless points, where a clusterer
    that reads its seed usually parts ways.
    """
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    factory = _resolve("clusterer", factory_or_name)
    params = params or {}
    X, y = _blobs(seed=0)
    estimator = factory(3, seed=0, **params)
    for method in ("fit", "get_params"):
        assert callable(getattr(estimator, method, None)), f"clusterer has no {method}()"
    fitted = estimator.fit(X)
    assert fitted is estimator, "fit(X) must return the estimator itself"
    labels = np.asarray(estimator.labels_)
    assert labels.shape == (len(X),), f"labels_ has shape {labels.shape}, expected ({len(X)},)"
    assert np.issubdtype(labels.dtype, np.integer), f"labels_ dtype {labels.dtype} is not integer"
    assert len(set(labels.tolist()) - {-1}) <= 3, "more clusters than n_clusters"
    score = adjusted_rand_score(y, labels)
    assert score >= min_adjusted_rand, f"blobs not recovered: adjusted Rand index {score:.3f}"
    again = np.asarray(factory(3, seed=0, **params).fit(X).labels_)
    assert adjusted_rand_score(labels, again) == 1.0, "the same seed gave different clusters"
    if callable(getattr(estimator, "predict", None)):
        X_new, _ = _blobs(seed=1, n_per_blob=3)
        predicted = np.asarray(estimator.predict(X_new))
        assert predicted.shape == (len(X_new),), "predict(X) must give one label per row"
        assert set(predicted.tolist()) <= set(labels.tolist()), "predict gave an unknown label"
    if deterministic:
        noise = np.random.default_rng(0).uniform(size=(60, 2))
        first = np.asarray(factory(4, seed=0, **params).fit(noise).labels_)
        for seed in (1, 2, 3):
            other = np.asarray(factory(4, seed=seed, **params).fit(noise).labels_)
            assert adjusted_rand_score(first, other) == 1.0, (
                f"declared deterministic, but seeds 0 and {seed} gave different clusters"
            )


def check_backbone(
    factory_or_name: Callable[..., Any] | str,
    *,
    params: dict[str, Any] | None = None,
    image_size: int | None = 64,
) -> Any:
    """Check a backbone factory ``(*, weights=None, **params)`` built with ``weights="none"``.

    The module maps (B,3,H,W) to finite (B, num_features) features in eval mode, exposes
    ``num_features`` and a ``preprocessing`` (:class:`rura.Preprocessing`), and is deterministic.
    ``image_size`` keeps the check cheap; ``None``, or a model with a fixed input size, uses the
    model's own input size.
    """
    import torch

    from rura.contracts import Preprocessing

    model = _resolve("backbone", factory_or_name)(weights="none", **(params or {}))
    assert isinstance(model, torch.nn.Module), "a backbone must be a torch.nn.Module"
    assert isinstance(getattr(model, "num_features", None), int), "backbone needs num_features"
    prep = getattr(model, "preprocessing", None)
    assert isinstance(prep, Preprocessing), "backbone needs a rura.Preprocessing .preprocessing"
    assert prep.input_size[0] == 3 and len(prep.mean) == len(prep.std) == 3, "bad preprocessing"
    fixed = bool(getattr(model, "pretrained_cfg", {}).get("fixed_input_size"))  # ViTs
    size = prep.input_size[-1] if fixed or not image_size else image_size
    model.eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = model(x)
        again = model(x)
    assert features.shape == (2, model.num_features), (
        f"backbone output shape {tuple(features.shape)}, expected (2, {model.num_features})"
    )
    assert torch.isfinite(features).all(), "backbone features are not finite"
    assert torch.equal(features, again), "backbone is not deterministic in eval mode"
    return model


def check_segmenter(
    factory_or_name: Callable[..., Any] | str,
    *,
    encoder: str = "resnet18",
    num_classes: int = 3,
    params: dict[str, Any] | None = None,
    image_size: int = 64,
) -> Any:
    """Check a segmenter factory ``(*, encoder, num_classes, weights=None, **params)``.

    Built with ``weights="none"``, it maps (B,3,H,W) to finite (B,num_classes,H,W) logits and
    exposes a ``preprocessing``.
    """
    import torch

    from rura.contracts import Preprocessing

    factory = _resolve("segmenter", factory_or_name)
    model = factory(encoder=encoder, num_classes=num_classes, weights="none", **(params or {}))
    assert isinstance(model, torch.nn.Module), "a segmenter must be a torch.nn.Module"
    assert isinstance(getattr(model, "preprocessing", None), Preprocessing), (
        "segmenter needs a rura.Preprocessing .preprocessing"
    )
    model.eval()
    x = torch.randn(2, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
    expected = (2, num_classes, image_size, image_size)
    assert tuple(logits.shape) == expected, (
        f"logits shape {tuple(logits.shape)}, expected {expected}"
    )
    assert torch.isfinite(logits).all(), "segmenter logits are not finite"
    return model


def check_dataset(
    factory_or_name: Callable[..., Any] | str, root: str | Path, **options: Any
) -> Any:
    """Check a dataset factory ``(root, **options)`` on a tree at ``root``.

    It returns a :class:`rura.data.Manifest` with at least one row, whose image and mask paths
    all exist under ``root``, with unique ids.
    """
    from rura.data.manifest import MANIFEST_COLUMNS, MASK_PREFIX, Manifest

    manifest = _resolve("dataset", factory_or_name)(Path(root), **options)
    assert isinstance(manifest, Manifest), f"dataset returned {type(manifest).__name__}"
    assert len(manifest) > 0, "dataset returned an empty manifest"
    assert list(manifest.table.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert manifest.table["id"].is_unique, "dataset ids are not unique"
    for index in range(len(manifest)):
        path = manifest.image_path(index)
        assert path.is_file(), f"manifest row {index} points at a missing image {path}"
        for column in manifest.table.columns:
            if column.startswith(MASK_PREFIX):
                mask = manifest.mask_path(index, column[len(MASK_PREFIX) :])
                assert mask is None or mask.is_file(), f"missing mask {mask}"
    return manifest


def check_modality(factory_or_name: Callable[..., Any] | str) -> Any:
    """Check a modality factory ``()``: a named :class:`rura.Modality` with unique lesion codes."""
    from rura.contracts import Modality, Preprocessing

    modality = _resolve("modality", factory_or_name)()
    assert isinstance(modality, Modality), f"modality factory returned {type(modality).__name__}"
    assert modality.name, "modality needs a name"
    assert isinstance(modality.preprocessing, Preprocessing), "modality needs preprocessing"
    codes = [lesion.code for lesion in modality.lesions]
    assert len(codes) == len(set(codes)), f"duplicate lesion codes in {codes}"
    for lesion in modality.lesions:
        assert modality.lesion(lesion.code) is lesion
        for synonym in lesion.synonyms:
            assert modality.lesion(synonym) is lesion, f"synonym {synonym!r} maps elsewhere"
    return modality


def run_conformance_check(kind: Kind, name: str) -> str:
    """Run the check for registered ``kind`` ``name``: ``"passed"``, ``"skipped: ..."`` or raise.
    A namespace registration (``ns/*``) is skipped: it needs a member's name to build anything.

    A clusterer's registration may lower the blob-recovery bar with the metadata
    ``check_min_adjusted_rand`` (with a comment saying why); ``deterministic=True`` is checked.
    """
    from rura.registry import NAMESPACE_SUFFIX

    if name.endswith(NAMESPACE_SUFFIX):  # its factory takes the member's name first
        namespace = name.removesuffix(NAMESPACE_SUFFIX)
        return (
            f"skipped: a namespace, whose members are built by name: check one with "
            f"rura.testing.check_{kind}('{namespace}/NAME')"
        )
    if kind == "clusterer":
        from rura.plugins import get_registry

        metadata = get_registry().get("clusterer", name).metadata
        check_clusterer(
            name,
            min_adjusted_rand=metadata.get("check_min_adjusted_rand", 0.9),
            deterministic=metadata.get("deterministic"),
        )
    elif kind == "backbone":
        check_backbone(name)
    elif kind == "segmenter":
        check_segmenter(name, image_size=128)
    elif kind == "modality":
        check_modality(name)
    else:
        return "skipped: needs a dataset root (use rura.testing.check_dataset in tests)"
    return "passed"
