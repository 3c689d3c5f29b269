"""The registry: names, aliases, collisions, overrides, suggestions, the ``register`` callback's
contract (its protocol, per-kind metadata) and hooks kept whole or not at all."""

import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from rura import hookspecs
from rura.errors import PluginError, UnknownPluginError
from rura.registry import (
    CLUSTER_FAMILIES,
    HOOK_KINDS,
    KINDS,
    METADATA,
    Register,
    Registry,
)

REPO = Path(__file__).resolve().parents[1]


def factory(*args, **kwargs):
    return ("built", args, kwargs)


def register(registry, plugin, kind="clusterer"):
    return registry.register_callback(kind, plugin, "1.0")


def test_registered_factory_is_found_by_name_and_alias():
    registry = Registry()
    register(registry, "a")(
        "kmeans", factory, summary="k-means", aliases=("km",), family="centroid"
    )
    assert registry.get("clusterer", "kmeans").factory is factory
    assert registry.get("clusterer", "KM").name == "kmeans"
    assert registry.get("clusterer", "kmeans").metadata == {"family": "centroid"}
    assert ("clusterer", "km") in registry


def test_registering_builds_nothing():
    calls = []
    registry = Registry()
    register(registry, "a")("lazy", lambda *a, **k: calls.append(a), summary="lazy")
    assert calls == []


def test_same_name_from_two_plugins_is_an_error_naming_both():
    registry = Registry()
    register(registry, "first")("agg", factory, summary="one")
    with pytest.raises(PluginError, match=r"'first'.*'second'"):
        register(registry, "second")("agg", factory, summary="two")


def test_alias_colliding_with_another_plugins_name_is_an_error():
    registry = Registry()
    register(registry, "first")("agg", factory, summary="one")
    with pytest.raises(PluginError, match="both"):
        register(registry, "second")("ward", factory, summary="two", aliases=("agg",))


def test_same_name_in_different_kinds_is_allowed():
    registry = Registry()
    register(registry, "a", "backbone")("resnet18", factory, summary="b")
    register(registry, "b", "segmenter")("resnet18", factory, summary="s")
    assert registry.get("segmenter", "resnet18").plugin == "b"


def test_override_replaces_whatever_the_loading_order():
    def other(*args, **kwargs):
        return "other"

    later = Registry()
    register(later, "core")("agg", factory, summary="core", aliases=("ward",))
    register(later, "mine")("agg", other, summary="mine", override=True)
    assert later.get("clusterer", "agg").plugin == "mine"
    assert ("clusterer", "ward") not in later  # the replaced entry's aliases go with it

    earlier = Registry()
    register(earlier, "mine")("agg", other, summary="mine", override=True)
    register(earlier, "core")("agg", factory, summary="core")
    assert earlier.get("clusterer", "agg").plugin == "mine"


def test_names_must_be_lowercase():
    with pytest.raises(PluginError, match="lowercase"):
        register(Registry(), "a")("KMeans", factory, summary="x")


def test_summary_is_required_and_factory_must_be_callable():
    with pytest.raises(PluginError, match="summary"):
        register(Registry(), "a")("x", factory, summary=" ")
    with pytest.raises(PluginError, match="not callable"):
        register(Registry(), "a")("x", "not callable", summary="x")


def test_unknown_name_suggests_the_closest_names():
    registry = Registry()
    for name in ("kmeans", "kmedoids", "agg"):
        register(registry, "a")(name, factory, summary=name)
    with pytest.raises(UnknownPluginError) as caught:
        registry.get("clusterer", "kmean")
    assert caught.value.suggestions[0] == "kmeans"
    assert "did you mean kmeans" in str(caught.value)
    assert "rura plugins --kind clusterer" in str(caught.value)


def test_iteration_is_sorted_by_kind_then_name():
    registry = Registry()
    register(registry, "a")("b", factory, summary="b")
    register(registry, "a")("a", factory, summary="a")
    register(registry, "a", "backbone")("z", factory, summary="z")
    assert [(e.kind, e.name) for e in registry] == [
        ("backbone", "z"),
        ("clusterer", "a"),
        ("clusterer", "b"),
    ]


def test_namespace_resolves_any_member_name():
    def make(member, *, weights=None):
        return (member, weights)

    registry = Registry()
    register(registry, "timm", "backbone")("timm/*", make, summary="any timm model")
    entry = registry.get("backbone", "timm/ConvNeXt_Tiny")
    assert entry.name == "timm/convnext_tiny" and entry.plugin == "timm"
    assert entry.factory(weights="none") == ("ConvNeXt_Tiny", "none")
    assert ("backbone", "timm/anything") in registry
    with pytest.raises(UnknownPluginError, match="timm/convnext"):
        registry.get("backbone", "convnext")


# The Register protocol.


def test_the_callback_has_the_protocols_signature():
    callback = Registry().register_callback("clusterer", "a")
    assert isinstance(callback, Register)
    assert inspect.signature(type(callback).__call__) == inspect.signature(Register.__call__)


def test_every_registration_hook_is_typed_with_the_protocol():
    for hook in HOOK_KINDS:
        hints = typing.get_type_hints(getattr(hookspecs, hook))
        assert hints == {"register": Register, "return": type(None)}, hook


TYPED_PLUGIN = """
from rura.registry import Register


def register_clusterers(register: Register) -> None:
    register("ok", lambda n, *, seed=None: None, summary="fine", aliases=["o"], family="medoid")
    register("no-summary", lambda n: None)
    register("bad-aliases", lambda n: None, summary="x", aliases=3)
"""


def test_a_type_checker_holds_plugins_to_the_protocol(tmp_path):
    """mypy is a test dependency (CI also type-checks the package with it)."""
    plugin = tmp_path / "typed_plugin.py"
    plugin.write_text(TYPED_PLUGIN)
    sources = [str(REPO / "src" / "rura" / "registry.py")]  # the protocol; the rest is skipped
    command = [sys.executable, "-m", "mypy", "--no-incremental", "--strict"]
    command += ["--follow-imports=skip", str(plugin), *sources]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    errors = [line for line in completed.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, completed.stdout
    assert all(line.startswith(str(plugin)) for line in errors), completed.stdout
    assert "summary" in errors[0] and "aliases" in errors[1]


# Metadata, per kind.


def test_builtin_metadata_is_accepted():
    registry = Registry()
    register(registry, "a")(
        "kmodes",
        factory,
        summary="k",
        family="centroid",
        predicts=True,
        library="kmodes",
        check_min_adjusted_rand=0.8,
    )
    register(registry, "a", "backbone")("b", factory, summary="b", library="timm", model_name="m")
    register(registry, "a", "segmenter")("s", factory, summary="s", architecture="Unet")
    for kind in KINDS:
        register(registry, "lib", kind)(f"with-library-{kind}", factory, summary="x", library="y")
    assert registry.get("clusterer", "kmodes").metadata["check_min_adjusted_rand"] == 0.8


@pytest.mark.parametrize("family", CLUSTER_FAMILIES)
def test_every_family_is_accepted(family):
    register(Registry(), "a")("c", factory, summary="c", family=family, predicts=False)


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ("famliy", r"unknown metadata keyword famliy='centroid' \(did you mean family\?\)"),
        ("alias", r"did you mean aliases\?"),
        ("libary", r"did you mean library\?"),
    ],
)
def test_an_unknown_metadata_keyword_is_refused_with_the_closest(keyword, message):
    registry = Registry()
    with pytest.raises(PluginError, match=message) as caught:
        register(registry, "a")("kmeans", factory, summary="k", **{keyword: "centroid"})
    assert "a clusterer accepts family, predicts, library, check_min_adjusted_rand" in str(
        caught.value
    )
    assert ("clusterer", "kmeans") not in registry


def test_metadata_of_another_kind_is_refused():
    with pytest.raises(PluginError, match="a backbone accepts library, model_name"):
        register(Registry(), "a", "backbone")("b", factory, summary="b", family="centroid")
    with pytest.raises(PluginError, match=r"a dataset accepts library$"):
        register(Registry(), "a", "dataset")("d", factory, summary="d", predicts=True)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"family": "centroids"}, r"\(did you mean centroid\?\): family is one of centroid, "),
        ({"family": "k-means"}, r"family='k-means': family is one of centroid, medoid, model"),
        ({"family": None}, "family is one of"),
        ({"predicts": "yes"}, "predicts is True or False"),
        ({"predicts": 1}, "predicts is True or False"),
        ({"check_min_adjusted_rand": 1.5}, "a number from 0 to 1"),
        ({"check_min_adjusted_rand": True}, "a number from 0 to 1"),
        ({"library": ""}, "library is a non-empty string"),
        ({"library": 3}, "library is a non-empty string"),
    ],
)
def test_a_bad_metadata_value_names_the_allowed_values(metadata, message):
    registry = Registry()
    with pytest.raises(PluginError, match=message):
        register(registry, "a")("kmeans", factory, summary="k", **metadata)
    assert ("clusterer", "kmeans") not in registry


def test_aliases_must_be_a_sequence_and_override_a_bool():
    with pytest.raises(
        PluginError, match=r"aliases is a list or tuple of names, e.g. aliases=\('cfp',\)"
    ):
        register(Registry(), "a", "modality")("fundus", factory, summary="f", aliases="cfp")
    with pytest.raises(PluginError, match="override is True or False"):
        register(Registry(), "a")("kmeans", factory, summary="k", override="yes")


def test_the_metadata_keywords_and_families_are_documented():
    page = (REPO / "docs" / "plugins.md").read_text()
    for kind, keys in METADATA.items():
        for key in keys:
            assert f"`{key}`" in page, f"{kind} metadata {key} is not in docs/plugins.md"
    for family in CLUSTER_FAMILIES:
        assert f"`{family}`" in page


# A hook's registrations are kept whole or not at all.


def test_run_hook_keeps_what_a_hook_that_returns_registered():
    registry = Registry()

    def hook(register):
        register("one", factory, summary="1")
        register("two", factory, summary="2", aliases=("deux",))

    assert registry.run_hook("clusterer", "a", hook, "1.0") is None
    assert registry.names("clusterer") == ["one", "two"]
    assert registry.get("clusterer", "deux").version == "1.0"
    assert registry.failures == []


def test_a_hook_that_raises_keeps_nothing_it_registered():
    registry = Registry()
    register(registry, "core")("agg", factory, summary="core", aliases=("ward",))
    register(registry, "core", "backbone")("resnet18", factory, summary="core backbone")

    def hook(register):
        register("first", factory, summary="1", aliases=("premier",))
        register("agg", factory, summary="replaces core's", override=True)
        raise RuntimeError("bad registration")

    failure = registry.run_hook("clusterer", "half", hook, "2.0")
    assert failure is not None and registry.failures == [failure]
    assert (failure.plugin, failure.version, failure.kind) == ("half", "2.0", "clusterer")
    assert failure.error == "RuntimeError: bad registration"
    assert ("clusterer", "first") not in registry and ("clusterer", "premier") not in registry
    assert registry.get("clusterer", "agg").plugin == "core"  # the override is taken back
    assert registry.get("clusterer", "ward").name == "agg"
    assert registry.get("backbone", "resnet18").plugin == "core"
    # Taken back whole: the same plugin may register those names again, and core is not
    # shadowed by a half-applied override.
    register(registry, "half")("first", factory, summary="1")
    with pytest.raises(PluginError, match="both"):
        register(registry, "half")("agg", factory, summary="no override this time")


def test_a_refused_registration_fails_the_whole_hook():
    registry = Registry()

    def hook(register):
        register("fine", factory, summary="fine", family="centroid")
        register("typo", factory, summary="typo", famliy="centroid")

    failure = registry.run_hook("clusterer", "typos", hook)
    assert failure is not None and "did you mean family?" in failure.error
    assert failure.error.startswith("PluginError: plugin 'typos' registered clusterer 'typo'")
    assert registry.names("clusterer") == []


def test_register_is_refused_after_the_hook_returned():
    registry = Registry()
    kept = []
    registry.run_hook("dataset", "late", kept.append)
    with pytest.raises(PluginError, match="after its register_datasets hook returned"):
        kept[0]("later", factory, summary="too late")
    assert registry.names("dataset") == []


def test_an_interrupt_in_a_hook_is_not_a_plugin_failure_but_still_takes_back():
    registry = Registry()

    def hook(register):
        register("one", factory, summary="1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        registry.run_hook("clusterer", "a", hook)
    assert registry.names("clusterer") == [] and registry.failures == []
