"""Scale: ``embed`` and ``diagnose`` over N small generated images, local engine against Ray.

For each N of ``--sizes`` the same N images (``--size`` px PNGs, copies of a pool of SynthFundus
pictures, written once into ``--data`` and reused by later runs) go through

- ``embed``: random-init resnet18 features into a feature store, and
- ``diagnose``: a tiny pipeline model (a one-epoch U-Net, random-init resnet18 features of the
  lesions' overlay, a k-means diagnoser; built once into ``--data``) applied to every image,
  overlays and ``diagnoses.csv`` written,

with the local engine and with the Ray engine on a local Ray sized to this machine (started
once, first; its start-up is timed apart and not counted), alternating (embed local then Ray,
diagnose Ray then local), so that a load drifting over the run favours neither. Each run prints
its throughput and its peak memory: the proportional set size (shared pages split among their
sharers) of this process and the processes it runs on, summed, sampled every 0.2 s: for the
local engine, those it started during the run (the DataLoader's workers), for the Ray engine
every process of the local Ray (GCS, raylet, idle and busy workers, the object store's shared
memory). Then, per stage, the
Ray/local throughput ratio and the milliseconds per image at each N (linear growth keeps it
flat). Both engines' outputs are compared (largest feature and score difference, diagnoses that
differ).

The last line is a JSON object: ``runs`` (one per size, stage and engine), ``ratio`` and
``ms_per_image`` per stage and size, and the ``differences``.

On this project's 2-core machine, shared with other jobs, ``--sizes 10000,50000`` took 62
minutes (12 for 10,000 images, 49 for 50,000); idle, ``--sizes 200000 --stages embed`` took 20
minutes, and diagnose runs about three times as long as embed per image. Writing the images,
once, costs about a minute per 10,000 (copies of a pool).
``--quick`` is a smoke test (48 images, seconds of work after start-up); ``--model`` uses a
pipeline model already built (at ``--size``) instead of building one; ``--stages embed`` runs
one stage (``diagnose`` takes two to three times as long as ``embed`` per image).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from rura.data.manifest import Manifest
from rura.data.synth import generate

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["normal", "mild_dr", "hypertensive_retinopathy", "glaucoma"]
LESIONS = ("ma", "he", "cws")
POOL_PER_CLASS = 64
PER_FOLDER = 1000


# -- data -------------------------------------------------------------------------------------


def images(data: Path, n: int, size: int) -> Path:
    """A manifest CSV of ``n`` images under ``data/images-<size>`` (written once: a later call
    adds only the images it lacks), copies of a pool of SynthFundus pictures."""
    per_class = min(POOL_PER_CLASS, -(-n // len(CLASSES)))
    pool = generate(
        data / f"pool-{size}-{per_class}", size=size, per_class=per_class, classes=CLASSES,
        workers=2,
    )  # fmt: skip  # a cache hit after the first call
    folder = data / f"images-{size}"
    records = []
    for index in range(n):
        source = pool.image_path(index % len(pool))
        path = f"{index // PER_FOLDER:04d}/{index:07d}.png"
        target = folder / path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        label = pool.table["label"].iat[index % len(pool)]
        records.append({"id": f"{index:07d}", "path": path, "label": label})
    manifest = folder / f"manifest-{n}.csv"
    if not manifest.exists():
        Manifest.from_records(records, folder).to_csv(manifest)
    return manifest


def pipeline_model(data: Path, size: int) -> Path:
    """A tiny pipeline model folder, as ``rura run`` saves one (built once into ``data``)."""
    from rura.diagnosis import ZeroShotDiagnoser
    from rura.diagnosis.bundle import save_bundle
    from rura.features.embed import embed
    from rura.segmentation import TrainSettings, predict_segmentation, train_segmenter

    root = data / f"model-{size}"
    if (root / "built").is_file():
        return root / "model"
    shutil.rmtree(root, ignore_errors=True)
    train = generate(root / "train", size=size, per_class=2, classes=CLASSES[:3], workers=1)
    settings = TrainSettings(
        lesions=LESIONS, encoder="resnet18", weights="none", size=size, patch=size,
        patches_per_image=1, epochs=1, batch_size=4, val_fraction=0.34, seed=0,
    )  # fmt: skip
    train_segmenter(train, root / "segmenter", settings, progress=False)
    masked = predict_segmentation(root / "segmenter", train, root / "pred", progress=False)
    store = embed(
        masked, root / "feats", backbone="resnet18", weights="none", focus="overlay",
        lesions=LESIONS, image_size=size, workers=0, seed=3, progress=False,
    )  # fmt: skip
    features = np.array(store.features)
    normal = (masked.table["label"] == "normal").to_numpy()
    diagnoser = ZeroShotDiagnoser("kmeans", seed=0).fit(features, reference=features[normal])
    save_bundle(
        root / "model", diagnoser=diagnoser, backbone="resnet18", weights="none", seed=3,
        target="mild_dr", normal="normal", image_size=size, focus="overlay", lesions=LESIONS,
        segmenter_dir=root / "segmenter",
    )  # fmt: skip
    (root / "built").write_text("")
    return root / "model"


# -- memory -----------------------------------------------------------------------------------


def descendants() -> set[int]:
    """This process's descendants (Linux ``/proc``; none elsewhere)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = set(), [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return tree


def tree_memory(skip: frozenset[int] = frozenset()) -> int:
    """Memory of this process and its descendants but ``skip``, in bytes: the sum of their
    proportional set sizes (``Pss``: a page shared by k processes counts 1/k in each, so forked
    workers and Ray's shared object store are not counted twice); Linux ``/proc``, else this
    process's peak resident size."""
    if not Path("/proc/self/smaps_rollup").is_file():
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    total = 0
    for pid in {os.getpid()} | (descendants() - skip):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


class PeakMemory:
    """The largest :func:`tree_memory` seen while the block runs (sampled every 0.2 to 2 s), less
    the processes already running at its start when ``own_only`` (the local engine is not
    charged for an idle Ray; the Ray engine is, for its whole cluster)."""

    def __init__(self, own_only: bool) -> None:
        self.skip = frozenset(descendants()) if own_only else frozenset()

    def __enter__(self) -> PeakMemory:
        self.peak = tree_memory(self.skip)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        # Every 0.2 s at first, every 2 s from 100 s on: reading the processes' smaps walks
        # their page tables, a cost that grows with their memory (at 0.2 s, on a 2.2 GB
        # process, this thread was busy a fifth of the time and slowed the run it measured).
        started = time.perf_counter()
        while not self._stop.wait(min(2.0, max(0.2, (time.perf_counter() - started) / 50))):
            self.peak = max(self.peak, tree_memory(self.skip))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_memory(self.skip))


# -- the runs ---------------------------------------------------------------------------------


def run_embed(manifest_csv: Path, out: Path, engine: str, args: argparse.Namespace) -> np.ndarray:
    from rura.features.embed import embed

    manifest = Manifest.read_csv(manifest_csv, root=manifest_csv.parent)
    store = embed(
        manifest, out, backbone="resnet18", weights="none", image_size=args.size,
        batch_size=args.batch_size, progress=False, engine=engine,
    )  # fmt: skip
    return np.array(store.features)


def run_diagnose(
    manifest_csv: Path, model: Path, out: Path, engine: str, args: argparse.Namespace
) -> list[dict]:
    from rura.diagnosis.diagnose import diagnose

    return diagnose(
        model, [manifest_csv], out, device="cpu", batch_size=args.batch_size, progress=False,
        engine=engine,
    )  # fmt: skip


def timed(engine: str, stage: str, n: int, work, *arguments) -> tuple[dict, object]:
    """Run ``work(*arguments)``; its seconds, throughput and peak memory, printed and
    returned."""
    with PeakMemory(own_only=engine == "local") as memory:
        started = time.perf_counter()
        output = work(*arguments)
        seconds = time.perf_counter() - started
    run = {
        "n": n,
        "stage": stage,
        "engine": engine,
        "seconds": round(seconds, 2),
        "img_s": round(n / seconds, 1),
        "peak_memory_mb": round(memory.peak / 2**20),
    }
    print(
        f"{engine} {stage}: {n} images in {seconds:.1f} s, {n / seconds:.1f} img/s, "
        f"peak memory {run['peak_memory_mb']} MB",
        file=sys.stderr,
    )
    return run, output


#: The stages measured, in the order they run (``--stages``).
STAGES = ("embed", "diagnose")


def measure(n: int, manifest: Path, model: Path | None, work: Path, args) -> tuple[list, dict]:
    """Embed, then diagnose (those of ``args.stages``), ``n`` images with each engine, in the
    order local, ray, ray, local (a load that drifts over the run favours neither); the runs
    and how far the two engines' outputs are apart. Each output is removed once read."""
    runs, features, rows, differences = [], {}, {}, {}
    for engine in ("local", "ray") if "embed" in args.stages else ():
        run, features[engine] = timed(
            engine, "embed", n, run_embed, manifest, work / engine, engine, args
        )
        runs.append(run)
        shutil.rmtree(work / engine)
    if features:
        difference = np.abs(features["ray"] - features["local"]).max()
        differences["max_feature_diff"] = float(difference)
    for engine in ("ray", "local") if "diagnose" in args.stages else ():
        run, rows[engine] = timed(
            engine, "diagnose", n, run_diagnose, manifest, model, work / engine, engine, args
        )
        runs.append(run)
        shutil.rmtree(work / engine)
    if rows:
        scores = {e: np.array([row["score"] for row in rows[e]], float) for e in rows}
        differences["max_score_diff"] = float(np.abs(scores["ray"] - scores["local"]).max())
        differences["diagnoses_differing"] = sum(
            a["diagnosis"] != b["diagnosis"]
            for a, b in zip(rows["ray"], rows["local"], strict=True)
        )
    return runs, differences


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,200000", help="numbers of images")
    parser.add_argument("--size", type=int, default=64, help="image side, px")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--data", type=Path, default=REPO / "benchmark-output" / "scale", help="image cache"
    )
    parser.add_argument(
        "--model", type=Path, help="a pipeline model (at --size) to use instead of building one"
    )
    parser.add_argument("--quick", action="store_true", help="48 images: a smoke test")
    parser.add_argument(
        "--stages", default="embed,diagnose", help="which stages to run: embed, diagnose or both"
    )
    args = parser.parse_args(argv)
    args.stages = [stage.strip() for stage in args.stages.split(",") if stage.strip()]
    if not args.stages or not set(args.stages) <= set(STAGES):
        parser.error(f"--stages: choose from {', '.join(STAGES)}")
    sizes = [48] if args.quick else [int(n) for n in args.sizes.split(",")]
    if args.quick:
        args.batch_size = 16
    args.data.mkdir(parents=True, exist_ok=True)
    model = args.model or (
        pipeline_model(args.data, args.size) if "diagnose" in args.stages else None
    )
    manifests = {n: images(args.data, n, args.size) for n in sizes}
    import ray

    started = time.perf_counter()
    ours = not ray.is_initialized()  # a Ray already running is used, and left running
    if ours:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray_start = time.perf_counter() - started
    print(f"ray start-up: {ray_start:.1f} s (not counted)", file=sys.stderr)
    runs, compared = [], {}
    try:
        with tempfile.TemporaryDirectory(dir=args.data) as folder:
            for n, manifest in manifests.items():
                measured, compared[str(n)] = measure(n, manifest, model, Path(folder), args)
                runs += measured
    finally:
        if ours:
            ray.shutdown()
    result = summary(runs, sizes, args.stages)
    result.update(
        images_px=args.size,
        batch_size=args.batch_size,
        cpus=os.cpu_count(),
        ray_start_s=round(ray_start, 1),
        differences=compared,
        runs=runs,
    )
    print(json.dumps(result))
    return result


def summary(runs: list[dict], sizes: list[int], stages: list[str]) -> dict:
    """Per stage and size: the Ray/local throughput ratio and each engine's seconds per image;
    printed, and returned for the JSON line."""
    seconds = {(r["stage"], r["engine"], r["n"]): r["seconds"] for r in runs}
    ratio: dict[str, dict[str, float]] = {}
    per_image: dict[str, dict[str, list[float]]] = {}
    for stage in (stage for stage in STAGES if stage in stages):
        ratio[stage] = {
            str(n): round(seconds[stage, "local", n] / seconds[stage, "ray", n], 3) for n in sizes
        }
        per_image[stage] = {
            engine: [round(1000 * seconds[stage, engine, n] / n, 3) for n in sizes]
            for engine in ("local", "ray")
        }
        shown = ", ".join(f"{n}: {ratio[stage][str(n)]:.2f}" for n in sizes)
        print(f"{stage} Ray/local throughput: {shown}", file=sys.stderr)
        for engine, values in per_image[stage].items():
            shown = ", ".join(f"{n}: {v:.2f}" for n, v in zip(sizes, values, strict=True))
            print(f"{stage} {engine} ms per image: {shown}", file=sys.stderr)
    return {"sizes": sizes, "ratio": ratio, "ms_per_image": per_image}


if __name__ == "__main__":
    main()
