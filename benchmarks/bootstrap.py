"""Bootstrap intervals: every resample's metrics at once against one resample at a time.

Both are measured in the same run on the same rows: ``binary_metrics`` called per resample (how
``evaluate`` worked before) and ``bootstrap_metrics`` over all resamples as arrays (how it works
now). The two must give the same numbers, which the script checks.

Prints one JSON object last: ``n``, ``resamples``, ``per_resample_s``, ``vectorised_s``, ``ratio``
(per resample / vectorised) and ``identical``.

Run ``python benchmarks/bootstrap.py --n 300 --resamples 1000``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from rura.evaluation.metrics import METRICS, binary_metrics, bootstrap_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="Evaluation images.")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="Best of this many timings.")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    truth = rng.random(args.n) < 0.4
    predicted = rng.random(args.n) < 0.5
    score = np.round(rng.random(args.n), 2)  # with ties, as real scores have
    rows = rng.integers(0, args.n, (args.resamples, args.n))

    def one_at_a_time() -> dict[str, np.ndarray]:
        found = [binary_metrics(truth[r], predicted[r], score[r]) for r in rows]
        return {m: np.array([np.nan if f[m] is None else f[m] for f in found]) for m in METRICS}

    timings = {}
    results = {}
    for name, compute in (
        ("per_resample", one_at_a_time),
        ("vectorised", lambda: bootstrap_metrics(truth, predicted, score, rows)),
    ):
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            results[name] = compute()
            best = min(best, time.perf_counter() - started)
        timings[name] = best
    identical = all(
        np.array_equal(results["per_resample"][m], results["vectorised"][m], equal_nan=True)
        for m in METRICS
    )
    print(
        json.dumps(
            {
                "n": args.n,
                "resamples": args.resamples,
                "per_resample_s": round(timings["per_resample"], 4),
                "vectorised_s": round(timings["vectorised"], 4),
                "ratio": round(timings["per_resample"] / timings["vectorised"], 1),
                "identical": identical,
            }
        )
    )


if __name__ == "__main__":
    main()
