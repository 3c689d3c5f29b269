"""Where the ray engine's model actors go: one per GPU, or CPU actors that leave CPUs to
decoding (a fake cluster stands in for Ray: no Ray starts here)."""

from types import SimpleNamespace

import pytest

from rura.engine.session import ActorPlan, actor_plan, connect
from rura.errors import RuraError


def cluster(*cpus, gpus=0):
    """A stand-in for the ``ray`` module of a cluster with nodes of ``cpus`` CPUs each."""
    nodes = [{"Alive": True, "Resources": {"CPU": float(n)}} for n in cpus]
    nodes.append({"Alive": False, "Resources": {"CPU": 64.0}})  # a dead node counts for nothing
    resources = {"CPU": float(sum(cpus)), **({"GPU": float(gpus)} if gpus else {})}
    return SimpleNamespace(cluster_resources=lambda: resources, nodes=lambda: nodes)


def test_cuda_gets_one_actor_per_gpu_and_auto_takes_the_gpus():
    plan = actor_plan(cluster(8, 8, gpus=4), "auto")
    assert plan == ActorPlan("cuda", 4, 1, 1, 1, 16)
    assert actor_plan(cluster(8, gpus=2), "cuda:1").actors == 2  # each actor sees cuda


def test_cuda_on_a_cluster_without_gpus_is_a_one_line_error():
    with pytest.raises(RuraError, match=r"device='cuda': the Ray cluster has no GPU"):
        actor_plan(cluster(8), "cuda")


@pytest.mark.parametrize(
    ("cpus", "actors", "reserved", "threads"),
    [
        ((1,), 1, 0, 1),  # reserves no CPU, or the decoding tasks would never start
        ((2,), 1, 1, 2),  # one CPU reserved for decoding; torch's threads use both
        ((4,), 1, 3, 4),
        ((8,), 1, 6, 6),  # from 8 CPUs, the spare ones are decoding's alone
        ((16,), 3, 4, 4),
        ((16, 16), 6, 4, 4),  # per node
    ],
)
def test_cpu_actors_leave_cpus_to_decoding(cpus, actors, reserved, threads):
    plan = actor_plan(cluster(*cpus), "cpu")
    assert (plan.device, plan.actors, plan.num_cpus, plan.threads) == (
        "cpu",
        actors,
        reserved,
        threads,
    )
    assert plan.num_gpus == 0 and plan.num_cpus <= min(cpus) - 1  # one CPU left, at least
    assert plan.decoders > plan.actors  # unlike the actor pool: Ray keeps the stages apart


def test_auto_without_gpus_runs_cpu_actors():
    assert actor_plan(cluster(4), "auto").device == "cpu"


def test_an_address_nothing_answers_at_is_a_one_line_error(monkeypatch):
    def init(**kwargs):
        raise ConnectionError("Could not find any running Ray instance.\nmore detail")

    fake = SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setattr("rura.engine.session.require_ray", lambda where: fake)
    with pytest.raises(RuraError) as error:
        connect("10.0.0.1:6379")
    assert str(error.value) == (
        "ray_address='10.0.0.1:6379': could not join Ray (Could not find any running Ray "
        "instance.); start one with `ray start --head` and pass its address, or leave the "
        "address unset for a local Ray"
    )


def test_a_ray_already_running_is_used_as_it_is(monkeypatch):
    def init(**kwargs):
        raise AssertionError("a running Ray must not be started again")

    fake = SimpleNamespace(is_initialized=lambda: True, init=init)
    monkeypatch.setattr("rura.engine.session.require_ray", lambda where: fake)
    assert connect("ignored:6379") is fake
