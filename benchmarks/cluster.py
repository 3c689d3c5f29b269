"""Benchmark RURA-Net's clusterers; prints progress, then one JSON object on the last line.

- ``agg`` (exact path) against scipy's Ward (``linkage(X, "ward")`` + ``fcluster``), 512-d;
- ``agg``'s scalable k-means path at large n: time, peak traced memory, and adjusted Rand index
  against exact Ward on a subsample;
- ``pam`` (BUILD + FasterPAM) against scikit-learn-extra's PAM: speed-up and loss ratio.

Run ``python benchmarks/cluster.py`` (several minutes) or ``--quick`` (seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
import warnings

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from rura.clustering import FasterPAM, ScalableAgglomerative

K = 10


def _data(n: int, dim: int, seed: int = 0) -> np.ndarray:
    X, _ = make_blobs(n, dim, centers=K, cluster_std=6.0, random_state=seed)
    return X


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


def bench_scalable(n: int, dim: int, subsample: int) -> dict[str, float]:
    X = _data(n, dim, seed=1)
    model = ScalableAgglomerative(K, memory_limit_bytes=2 * 2**30, random_state=0)
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


def bench_pam(n: int, dim: int) -> dict[str, float]:
    from sklearn_extra.cluster import KMedoids

    X = _data(n, dim, seed=2)
    start = time.perf_counter()
    ours = FasterPAM(K, init="build").fit(X)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = KMedoids(K, method="pam", init="build").fit(X)
    t_theirs = time.perf_counter() - start
    print(f"pam n={n}: {t_ours:.2f}s, scikit-learn-extra {t_theirs:.2f}s", file=sys.stderr)
    key = _key(n)
    return {
        f"pam_seconds_{key}": round(t_ours, 3),
        f"pam_skx_seconds_{key}": round(t_theirs, 3),
        f"pam_speedup_{key}": round(t_theirs / t_ours, 2),
        f"pam_loss_ratio_{key}": round(ours.inertia_ / float(theirs.inertia_), 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="best-of repeats for agg")
    parser.add_argument("--sizes", type=int, nargs="+", help="n for the agg-versus-scipy runs")
    parser.add_argument("--parts", default="agg,scalable,pam", help="comma list of parts to run")
    args = parser.parse_args()
    if args.quick:
        sizes, dim, large, subsample, pam_n, repeats = [500, 1000, 2000], 64, 20_000, 2000, 500, 1
    else:
        sizes, dim, large, subsample, pam_n, repeats = (
            [5000, 10_000, 20_000],
            512,
            200_000,
            10_000,
            5000,
            2,
        )
    repeats = args.repeats or repeats
    parts = set(args.parts.split(","))
    result: dict[str, object] = {"quick": args.quick, "dim": dim, "n_clusters": K}
    if "agg" in parts:
        result |= bench_agg(args.sizes or sizes, dim, repeats)
    if "scalable" in parts:
        result |= bench_scalable(large, dim, subsample)
    if "pam" in parts:
        result |= bench_pam(pam_n, dim)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
