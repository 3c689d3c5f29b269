"""Joining Ray for the ray engine, and where its model actors go.

:func:`connect` starts a local Ray sized to this machine, or joins the cluster at ``address``;
a Ray already running in this process (a user's ``ray.init``) is used as it is and never shut
down here. A Ray that rura started stays up until the process exits (Ray's own exit hook stops
it), so the stages of one ``rura run`` share one start-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rura.engine import require_ray
from rura.errors import RuraError, option

#: CPUs of each node kept for the decoding tasks when the model actors run on the CPU.
DECODE_SHARE = 4
#: Torch threads per CPU actor, at most: past this, more actors pay better than more threads.
THREADS_PER_ACTOR = 4


@dataclass(frozen=True)
class ActorPlan:
    """How many model actors run, on what, and what each asks Ray for."""

    device: str  # what the actors run on: cuda, mps or cpu
    actors: int
    num_gpus: float
    num_cpus: float
    threads: int  # torch threads in each actor
    decoders: int  # decoding tasks at once, at most

    def remote_args(self) -> dict[str, Any]:
        """The actor pool's arguments to ``Dataset.map_batches``."""
        import ray.data

        return {
            "compute": ray.data.ActorPoolStrategy(size=self.actors),
            "num_gpus": self.num_gpus,
            "num_cpus": self.num_cpus,
        }


def connect(address: str | None = None, where: str | None = None) -> ModuleType:
    """The ``ray`` module, joined to a running Ray: this process's own if it has one, else the
    cluster at ``address`` (``auto``, ``HOST:6379``, ``ray://HOST:10001``), else a new local
    one. An address nothing answers at is a one-line error naming ``where`` (the setting that
    gave the address; the ``ray_address`` option by default)."""
    ray = require_ray(option("engine", "ray"))
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, ValueError, RuntimeError) as error:
            if address:
                where = f"{where} {address!r}" if where else option("ray_address", address)
            else:
                where = option("engine", "ray")
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise RuraError(
                f"{where}: could not join Ray ({first}); start one with `ray start --head` "
                "and pass its address, or leave the address unset for a local Ray"
            ) from None
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # no per-dataset chatter on stderr
    return ray


def actor_plan(ray: ModuleType, device: str | None) -> ActorPlan:
    """Where the model actors run for the requested ``device``: one per GPU of the cluster for
    ``cuda`` (and for ``auto`` when it has GPUs), else CPU actors that leave a quarter of each
    node's CPUs (at least one) to the decoding tasks; on nodes of under 8 CPUs the actors'
    torch threads use that one CPU too (the tasks' reservation keeps them schedulable)."""
    from rura.devices import check_device_name

    name = check_device_name(device)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    total = max(1, int(resources.get("CPU", 1)))
    if name.startswith("cuda") or (name == "auto" and gpus):
        if not gpus:
            raise RuraError(
                f"{option('device', name)}: the Ray cluster has no GPU; "
                "use --device cpu (or auto), or add GPU nodes to the cluster"
            )
        # each actor sees its one GPU as cuda
        return ActorPlan("cuda", gpus, 1, 1, 1, max(total, gpus + 1))
    cpus = _node_cpus(ray) or [total]
    smallest = min(cpus)
    spare = max(1, smallest // DECODE_SHARE)
    model_cpus = max(1, smallest - spare)
    per_node = max(1, model_cpus // THREADS_PER_ACTOR)
    # On a small node (under 8 CPUs, one spare) the actor's threads take the decoding CPU too,
    # as the local engine's model does beside its decoding workers: on 2 idle CPUs a one-thread
    # actor embedded at 0.53 of the local engine's rate, a two-thread one at 0.81 to 0.92.
    # Bigger nodes keep their spare CPUs to decoding alone: torch's threads wait for each
    # other, and a thread sharing its core with decoding holds them all up.
    threads = max(1, (smallest if spare == 1 else model_cpus) // per_node)
    device_name = "mps" if name == "mps" else "cpu"
    actors = per_node * len(cpus)
    # An actor's CPUs leave one to decoding: on a one-CPU node it reserves none (else the
    # decoding tasks would wait for ever).
    reserved = min(threads, smallest - 1)
    return ActorPlan(device_name, actors, 0, reserved, threads, max(total, actors + 1))


def _node_cpus(ray: ModuleType) -> list[int]:
    """The CPU count of each live node of the cluster."""
    return [
        int(node["Resources"]["CPU"])
        for node in ray.nodes()
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= 1
    ]
