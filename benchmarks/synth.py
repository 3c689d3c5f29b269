"""Benchmark SynthFundus generation: images/s in parallel against one process, in the same run.

Prints one JSON object: ``images``, ``size``, ``workers``, ``parallel_img_s``, ``serial_img_s``,
``ratio`` (parallel / serial) and ``seconds_for_1000_est`` (at the parallel rate).

Run ``python benchmarks/synth.py --n 1000 --size 256``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from rura.data.synth import CLASSES, generate


def images_per_second(n: int, size: int, workers: int, folder: Path) -> tuple[int, float]:
    """Generate about ``n`` images with ``workers`` processes; return the count and the rate."""
    per_class = max(1, math.ceil(n / len(CLASSES)))
    start = time.perf_counter()
    # --8<-- [start:generate]
    manifest = generate(folder, size=size, per_class=per_class, seed=0, workers=workers)
    # --8<-- [end:generate]
    seconds = time.perf_counter() - start
    return len(manifest), len(manifest) / seconds


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images (rounded up to whole classes)")
    parser.add_argument("--size", type=int, default=256, help="image side, px")
    args = parser.parse_args(argv)
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        images, parallel = images_per_second(args.n, args.size, workers, Path(tmp) / "parallel")
        print(f"parallel ({workers} workers): {parallel:.1f} img/s", file=sys.stderr)
        _, serial = images_per_second(args.n, args.size, 1, Path(tmp) / "serial")
        print(f"serial: {serial:.1f} img/s", file=sys.stderr)
    result = {
        "images": images,
        "size": args.size,
        "workers": workers,
        "parallel_img_s": round(parallel, 2),
        "serial_img_s": round(serial, 2),
        "ratio": round(parallel / serial, 2),
        "seconds_for_1000_est": round(1000 / parallel, 1),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
