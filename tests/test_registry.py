"""The registry: names, aliases, collisions, overrides and suggestions."""

import pytest

from rura.errors import PluginError, UnknownPluginError
from rura.registry import Registry


def factory(*args, **kwargs):
    return ("built", args, kwargs)


def register(registry, plugin, kind="clusterer"):
    return registry.register_callback(kind, plugin, "1.0")


def test_registered_factory_is_found_by_name_and_alias():
    registry = Registry()
    register(registry, "a")("kmeans", factory, summary="k-means", aliases=("km",), family="c")
    assert registry.get("clusterer", "kmeans").factory is factory
    assert registry.get("clusterer", "KM").name == "kmeans"
    assert registry.get("clusterer", "kmeans").metadata == {"family": "c"}
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
