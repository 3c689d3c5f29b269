"""Benchmark RURA-Net's clusterers; prints progress, then one JSON object on the last line.

Parts (``--parts``, a comma list; all by default):

- ``agg``: ``agg`` (exact path) against scipy's Ward (``linkage(X, "ward")`` + ``fcluster``), 512-d;
- ``scalable``: ``agg``'s scalable k-means path at 200,000 rows: time, peak traced memory, and
  adjusted Rand index (ARI) against exact Ward on a subsample;
- ``million``: ``agg`` on 1,000,000 × 512 float32 rows of overlapping clusters: time and peak
  resident memory of the fit, against the same path with MiniBatchKMeans on every row (the
  baseline, ``precluster_fit_rows=None``) in the same run; ARI against exact Ward on a 10,000-row
  subsample, and of each against the clusters that generated the rows;
- ``predict``: the diagnoser's ``assess`` (prediction, score and cluster of each row from one
  chunked distance pass) on 1,000,000 rows, against the unchunked ``predict`` + ``score`` (the
  code before chunking, reproduced here) and the chunked separate ``predict()`` and ``score()``
  calls on 100,000 rows: rows per second and equal outputs;
- ``pam``: ``pam`` (BUILD + FasterPAM) against scikit-learn-extra's PAM (and the ``kmedoids``
  package's own ``KMedoids``) at 5,000 × 512: best of three interleaved runs after a warm-up,
  speed-up and loss ratio;
- ``dtype``: a float16 feature store against float32: bytes, round-trip error, and the change in
  ``agg``'s clusters and in the diagnoser's AUC on labelled synthetic rows.

Run ``python benchmarks/cluster.py`` (about 15 minutes on 2 cores) or ``--quick`` (seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from rura.clustering import FasterPAM, ScalableAgglomerative
from rura.diagnosis import ZeroShotDiagnoser
from rura.features.store import create_matrix, write_rows

K = 10
#: Noise of the overlapping clusters at 512-d: exact Ward on 10,000 rows recovers them with an
#: ARI of about 0.85, so agreement with it is informative (at 6.0 every method scores 1.0).
OVERLAP_SIGMA = 22.0


def _data(n: int, dim: int, seed: int = 0) -> np.ndarray:
    X, _ = make_blobs(n, dim, centers=K, cluster_std=6.0, random_state=seed)
    return X


def _float32_blobs(n: int, dim: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 rows around ``K`` centres drawn in [-10, 10]^dim, written a chunk at a time
    (no float64 copy), and the centre each row was drawn around."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, (K, dim)).astype(np.float32)
    truth = rng.integers(0, K, n)
    X = np.empty((n, dim), np.float32)
    for start in range(0, n, 65_536):
        rows = slice(start, start + 65_536)
        block = rng.standard_normal((len(truth[rows]), dim), dtype=np.float32)
        block *= sigma
        block += centres[truth[rows]]
        X[rows] = block
    return X, truth


def _reset_peak_rss() -> None:
    """Start a new peak-resident-memory count (Linux; elsewhere the process peak is kept)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_bytes() -> int:
    """The peak resident memory since :func:`_reset_peak_rss` (VmHWM), else the process's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _best_times(fns: list, repeats: int) -> list[float]:
    """Best-of-``repeats`` seconds of each function, runs interleaved so load hits all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for index, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def _key(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def bench_agg(sizes: list[int], dim: int, repeats: int) -> dict[str, float]:
    out = {}
    for n in sizes:
        X = _data(n, dim)
        ours = ScalableAgglomerative(K, memory_limit_bytes=2**40)
        t_ours, t_scipy = _best_times(
            [lambda: ours.fit(X), lambda: fcluster(linkage(X, "ward"), K, "maxclust")],  # noqa: B023
            repeats,
        )
        out[f"agg_seconds_{_key(n)}"] = round(t_ours, 3)
        out[f"scipy_ward_seconds_{_key(n)}"] = round(t_scipy, 3)
        out[f"agg_over_scipy_{_key(n)}"] = round(t_ours / t_scipy, 3)
        print(f"agg n={n}: {t_ours:.2f}s, scipy {t_scipy:.2f}s", file=sys.stderr)
    return out


def bench_scalable(n: int, dim: int, subsample: int, preclusters: int) -> dict[str, float]:
    X = _data(n, dim, seed=1)
    model = ScalableAgglomerative(
        K, memory_limit_bytes=2 * 2**30, n_preclusters=preclusters, random_state=0
    )
    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows = np.random.default_rng(0).choice(n, size=subsample, replace=False)
    exact = fcluster(linkage(X[rows], "ward"), K, "maxclust")
    ari = adjusted_rand_score(exact, model.labels_[rows])
    key = _key(n)
    print(f"scalable n={n}: {seconds:.1f}s, peak {peak / 2**20:.0f} MiB", file=sys.stderr)
    return {
        f"agg_scalable_path_{key}": model.path_,
        f"agg_scalable_seconds_{key}": round(seconds, 2),
        f"agg_scalable_peak_mib_{key}": round(peak / 2**20, 1),
        f"agg_scalable_data_mib_{key}": round(X.nbytes / 2**20, 1),
        f"agg_scalable_ari_vs_exact_{_key(subsample)}_subsample": round(ari, 4),
    }


def _timed_fit(model: ScalableAgglomerative, X: np.ndarray) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads) and peak resident bytes (data included) of
    ``model.fit(X)``: on shared cores the wall time grows with the others' load."""
    _reset_peak_rss()
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the scalable path announces itself
        model.fit(X)
    return time.perf_counter() - start, time.process_time() - cpu, _peak_rss_bytes()


def bench_million(
    n: int, dim: int, subsample: int, fit_rows: int, preclusters: int
) -> dict[str, object]:
    sigma = OVERLAP_SIGMA * np.sqrt(dim / 512)
    X, truth = _float32_blobs(n, dim, sigma, seed=3)
    common = {"n_preclusters": preclusters, "random_state": 0}
    ours = ScalableAgglomerative(K, precluster_fit_rows=fit_rows, **common)
    baseline = ScalableAgglomerative(K, precluster_fit_rows=None, **common)
    t_ours, cpu_ours, rss_ours = _timed_fit(ours, X)
    print(f"agg n={n}: {t_ours:.1f}s, peak RSS {rss_ours / 2**30:.2f} GiB", file=sys.stderr)
    t_base, cpu_base, rss_base = _timed_fit(baseline, X)
    print(f"agg n={n}, every row to k-means: {t_base:.1f}s", file=sys.stderr)
    rows = np.sort(np.random.default_rng(0).choice(n, size=subsample, replace=False))
    start = time.perf_counter()
    exact = fcluster(linkage(X[rows], "ward"), K, "maxclust")
    t_exact = time.perf_counter() - start
    key, sub = _key(n), _key(subsample)
    return {
        f"agg_{key}_path": ours.path_,
        f"agg_{key}_seconds": round(t_ours, 1),
        f"agg_{key}_cpu_seconds": round(cpu_ours, 1),
        f"agg_{key}_peak_rss_gib": round(rss_ours / 2**30, 2),
        f"agg_{key}_data_gib": round(X.nbytes / 2**30, 2),
        f"agg_{key}_precluster_fit_rows": fit_rows,
        f"agg_{key}_baseline_all_rows_seconds": round(t_base, 1),
        f"agg_{key}_baseline_all_rows_cpu_seconds": round(cpu_base, 1),
        f"agg_{key}_baseline_peak_rss_gib": round(rss_base / 2**30, 2),
        f"agg_{key}_speedup_vs_all_rows": round(t_base / t_ours, 2),
        f"agg_{key}_ari_vs_exact_ward_{sub}": round(
            adjusted_rand_score(exact, ours.labels_[rows]), 4
        ),
        f"agg_{key}_baseline_ari_vs_exact_ward_{sub}": round(
            adjusted_rand_score(exact, baseline.labels_[rows]), 4
        ),
        f"agg_{key}_ari_vs_truth": round(adjusted_rand_score(truth, ours.labels_), 4),
        f"agg_{key}_baseline_ari_vs_truth": round(adjusted_rand_score(truth, baseline.labels_), 4),
        f"exact_ward_{sub}_ari_vs_truth": round(adjusted_rand_score(truth[rows], exact), 4),
        f"exact_ward_{sub}_seconds": round(t_exact, 1),
        "overlap_sigma": round(float(sigma), 2),
    }


def _two_groups(n: int, dim: int, seed: int, noise: float = 1.3) -> tuple[np.ndarray, np.ndarray]:
    """Float32 rows of a normal (0) and a disease (1) group (the same two centres for every
    ``seed``, which draws the rows) and each row's group."""
    centres = np.random.default_rng(0).normal(0, 1, (2, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    X = np.empty((n, dim), np.float32)
    for start in range(0, n, 65_536):
        rows = slice(start, start + 65_536)
        block = rng.standard_normal((len(truth[rows]), dim), dtype=np.float32)
        block *= noise
        block += centres[truth[rows]] + 2.0  # positive means, as pooled CNN features
        X[rows] = block
    return X, truth


def _unchunked_predict_and_score(model: ZeroShotDiagnoser, features: np.ndarray) -> tuple:
    """``predict`` and ``score`` as the diagnoser computed them before chunking (each call on
    every row at once, float64 throughout)."""

    def transform() -> np.ndarray:
        X = np.asarray(features, np.float64)
        if model.normalise == "l2":
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            X = X / np.where(norms > 0, norms, 1.0)
        return (X - model.shift_) / model.scale_

    def distances() -> np.ndarray:
        X, A = transform(), model.anchors_
        squared = (X**2).sum(1)[:, None] - 2 * X @ A.T + (A**2).sum(1)[None, :]
        return np.sqrt(np.maximum(squared, 0.0))

    k = min(model.neighbours, len(model.anchors_))
    d = distances()
    if model.member_based_:
        votes = model.anchor_labels_[np.argsort(d, axis=1)[:, :k]]
        counts = np.stack([(votes == c).sum(axis=1) for c in range(len(model.centroids_))], 1)
        clusters = counts.argmax(axis=1)
    else:
        clusters = model.anchor_labels_[d.argmin(axis=1)]
    predicted = model.cluster_is_disease_[clusters].astype(int)
    d = distances()
    disease = model.cluster_is_disease_[model.anchor_labels_]

    def class_distance(part: np.ndarray) -> np.ndarray:
        if not model.member_based_:
            return part.min(axis=1)
        return np.sort(part, axis=1)[:, : min(k, part.shape[1])].mean(axis=1)

    return predicted, class_distance(d[:, ~disease]) - class_distance(d[:, disease])


def bench_predict(n: int, dim: int, n_fit: int, baseline_rows: int) -> dict[str, object]:
    fit, fit_truth = _two_groups(n_fit, dim, seed=5)
    X, _ = _two_groups(n, dim, seed=6)
    out: dict[str, object] = {"predict_rows": n, "predict_fit_rows": n_fit}
    for clusterer in ("agg", "kmeans"):
        model = ZeroShotDiagnoser(clusterer, seed=0).fit(fit, reference=fit[fit_truth == 0][:20])
        tracemalloc.start()  # numpy's allocations, beyond the rows and the outputs
        start, cpu = time.perf_counter(), time.process_time()
        predicted, scores, _ = model.assess(X)
        t_new, cpu_new = time.perf_counter() - start, time.process_time() - cpu
        peak_new = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        start = time.perf_counter()
        separate = model.predict(X[:baseline_rows]), model.score(X[:baseline_rows])
        t_separate = time.perf_counter() - start
        tracemalloc.start()
        start, cpu = time.perf_counter(), time.process_time()
        old_predicted, old_scores = _unchunked_predict_and_score(model, X[:baseline_rows])
        t_old, cpu_old = time.perf_counter() - start, time.process_time() - cpu
        peak_old = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rate_new, rate_old = n / t_new, baseline_rows / t_old
        print(
            f"predict+score {clusterer} ({len(model.anchors_)} anchors): {n} rows {t_new:.1f}s; "
            f"unchunked {baseline_rows} rows {t_old:.1f}s; predict() and score() on "
            f"{baseline_rows} rows {t_separate:.1f}s",
            file=sys.stderr,
        )
        out |= {
            f"predict_{clusterer}_anchors": len(model.anchors_),
            f"predict_{clusterer}_seconds_{_key(n)}": round(t_new, 2),
            f"predict_{clusterer}_cpu_seconds_{_key(n)}": round(cpu_new, 2),
            f"predict_{clusterer}_unchunked_seconds_{_key(baseline_rows)}": round(t_old, 2),
            f"predict_{clusterer}_unchunked_cpu_seconds_{_key(baseline_rows)}": round(cpu_old, 2),
            f"predict_{clusterer}_peak_traced_mib_{_key(n)}": round(peak_new / 2**20, 1),
            f"predict_{clusterer}_unchunked_peak_traced_mib_{_key(baseline_rows)}": round(
                peak_old / 2**20, 1
            ),
            f"predict_{clusterer}_rows_per_s": round(rate_new),
            f"predict_{clusterer}_unchunked_rows_per_s": round(rate_old),
            f"predict_{clusterer}_speedup": round(rate_new / rate_old, 2),
            f"predict_{clusterer}_separate_calls_seconds_{_key(baseline_rows)}": round(
                t_separate, 2
            ),
            f"predict_{clusterer}_one_pass_speedup_over_separate_calls": round(
                (n / t_new) / (baseline_rows / t_separate), 2
            ),
            f"predict_{clusterer}_separate_calls_agree": bool(
                np.array_equal(separate[0], predicted[:baseline_rows])
                and np.allclose(separate[1], scores[:baseline_rows], rtol=0, atol=1e-12)
            ),
            f"predict_{clusterer}_same_predictions": bool(
                np.array_equal(predicted[:baseline_rows], old_predicted)
            ),
            f"predict_{clusterer}_max_score_diff": float(
                np.abs(scores[:baseline_rows] - old_scores).max()
            ),
        }
    return out


def bench_pam(n: int, dim: int, repeats: int) -> dict[str, float]:
    import kmedoids
    from sklearn_extra.cluster import KMedoids

    X = _data(n, dim, seed=2)
    fits = {
        "ours": lambda: FasterPAM(K, init="build").fit(X),
        "skx": lambda: KMedoids(K, method="pam", init="build").fit(X),
        "pkg": lambda: kmedoids.KMedoids(
            K, method="fasterpam", init="build", metric="euclidean"
        ).fit(X),
    }
    small = X[: max(K * 10, n // 20)]  # warm-up: first-call costs (threads, pages) are not PAM's
    FasterPAM(K, init="build").fit(small)
    KMedoids(K, method="pam", init="build").fit(small)
    t_ours, t_skx, t_pkg = _best_times(list(fits.values()), repeats)
    ours, theirs = fits["ours"](), fits["skx"]()
    print(
        f"pam n={n}: {t_ours:.2f}s, scikit-learn-extra {t_skx:.2f}s, kmedoids.KMedoids "
        f"{t_pkg:.2f}s",
        file=sys.stderr,
    )
    key = _key(n)
    return {
        f"pam_seconds_{key}": round(t_ours, 3),
        f"pam_skx_seconds_{key}": round(t_skx, 3),
        f"pam_kmedoids_package_seconds_{key}": round(t_pkg, 3),
        f"pam_speedup_{key}": round(t_skx / t_ours, 2),
        f"pam_kmedoids_package_speedup_{key}": round(t_skx / t_pkg, 2),
        f"pam_loss_ratio_{key}": round(ours.inertia_ / float(theirs.inertia_), 6),
    }


def _stored(X: np.ndarray, path: Path, dtype: str) -> np.ndarray:
    """``X`` written to a ``dtype`` feature matrix at ``path`` and read back as float32."""
    create_matrix(path, *X.shape, dtype)
    matrix = np.load(path, mmap_mode="r+")
    for start in range(0, len(X), 65_536):
        write_rows(matrix, start, X[start : start + 65_536])
    matrix.flush()
    del matrix
    return np.asarray(np.load(path, mmap_mode="r"), np.float32)


def bench_dtype(n: int, dim: int, n_fit: int) -> dict[str, object]:
    sigma = OVERLAP_SIGMA * np.sqrt(dim / 512)
    X, _ = _float32_blobs(n, dim, sigma, seed=4)
    # noise 5: the groups overlap, the clusters are imperfect and the AUC is about 0.99
    fit, fit_truth = _two_groups(n_fit, dim, seed=7, noise=5.0)
    evaluation, truth = _two_groups(n, dim, seed=8, noise=5.0)
    with tempfile.TemporaryDirectory() as folder:
        paths = {dtype: Path(folder) / f"{dtype}.npy" for dtype in ("float32", "float16")}
        read = {dtype: _stored(X, path, dtype) for dtype, path in paths.items()}
        sizes = {dtype: path.stat().st_size for dtype, path in paths.items()}
        fits = {dtype: _stored(fit, Path(folder) / f"fit-{dtype}.npy", dtype) for dtype in paths}
        evals = {
            dtype: _stored(evaluation, Path(folder) / f"e-{dtype}.npy", dtype) for dtype in paths
        }
    error = np.abs(read["float16"] - read["float32"]) / np.maximum(np.abs(read["float32"]), 1e-3)
    labels = {}
    for dtype, features in read.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            labels[dtype] = ScalableAgglomerative(K, random_state=0).fit(features).labels_
    auc = {}
    for dtype in paths:
        normal = fits[dtype][fit_truth == 0][:20]
        model = ZeroShotDiagnoser("agg", seed=0).fit(fits[dtype], reference=normal)
        auc[dtype] = roc_auc_score(truth, model.score(evals[dtype]))
    print(
        f"dtype n={n}: AUC float32 {auc['float32']:.5f}, float16 {auc['float16']:.5f}",
        file=sys.stderr,
    )
    key = _key(n)
    return {
        f"dtype_bytes_float32_{key}": sizes["float32"],
        f"dtype_bytes_float16_{key}": sizes["float16"],
        "dtype_bytes_ratio": round(sizes["float16"] / sizes["float32"], 4),
        "dtype_max_relative_error": float(error.max()),
        f"dtype_agg_ari_float16_vs_float32_{key}": round(
            adjusted_rand_score(labels["float32"], labels["float16"]), 4
        ),
        "dtype_auc_float32": round(float(auc["float32"]), 6),
        "dtype_auc_float16": round(float(auc["float16"]), 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="best-of repeats for agg")
    parser.add_argument("--sizes", type=int, nargs="+", help="n for the agg-versus-scipy runs")
    parser.add_argument(
        "--parts",
        default="agg,scalable,million,predict,pam,dtype",
        help="comma list of parts to run",
    )
    args = parser.parse_args()
    quick = args.quick
    dim = 64 if quick else 512
    repeats = args.repeats or (1 if quick else 2)
    parts = set(args.parts.split(","))
    result: dict[str, object] = {"quick": quick, "dim": dim, "n_clusters": K}
    result["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    if "million" in parts:  # first: its memory peak is the process's own
        million = (
            (30_000, dim, 2000, 5000, 200) if quick else (1_000_000, dim, 10_000, 200_000, 2000)
        )
        result |= bench_million(*million)
    if "agg" in parts:
        sizes = args.sizes or ([500, 1000] if quick else [5000, 10_000, 20_000])
        result |= bench_agg(sizes, dim, repeats)
    if "scalable" in parts:
        scalable = (20_000, dim, 2000, 200) if quick else (200_000, dim, 10_000, 2000)
        result |= bench_scalable(*scalable)
    if "predict" in parts:
        predict = (20_000, dim, 200, 5000) if quick else (1_000_000, dim, 500, 100_000)
        result |= bench_predict(*predict)
    if "pam" in parts:
        result |= bench_pam(500 if quick else 5000, dim, 1 if quick else 3)
    if "dtype" in parts:
        result |= bench_dtype(*((5000, dim, 200) if quick else (200_000, dim, 500)))
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
