"""Every command's options against their one definition: the config field or the shared type."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
import typer
from pydantic import BaseModel
from typer.main import get_command

from rura.cli.app import make_app
from rura.cli.options import config_section, field_bounds
from rura.pipeline.config import RuntimeConfig, SegmentationConfig, SimilarityConfig

#: The config section each command's options come from.
SECTION_OF: dict[str, type[BaseModel]] = {
    "similarity train": SimilarityConfig,
    "similarity compare": SimilarityConfig,
    "similarity rank": SimilarityConfig,
    "segment train": SegmentationConfig,
}
#: Option names that are not the field's name.
FIELD_OF = {"arch": "architecture"}
#: Options that differ from the field on purpose, and why.
APART = {
    ("segment train", "normalize"): "the config's default is the modality's; no modality here",
    ("segment train", "lesions"): "a comma list on the command line",
    ("similarity compare", "backbone"): "a list: one network per backbone",
    ("similarity rank", "batch_size"): "images per batch of inference (runtime.batch_size)",
    ("similarity rank", "max_per_class"): "0 means every image (RankSettings)",
}
#: Commands another change brings to the shared options (remove once it has).
PENDING: set[str] = set()
SHARED = ("device", "seed", "workers", "on_error", "batch_size")


def commands() -> list[tuple[str, Any]]:
    """Every registered command, by its path (``segment train``); Typer's own click classes."""
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found.append((" ".join(path), command))

    walk(get_command(make_app()), ())
    return [(path, c) for path, c in found if c.callback.__module__.startswith("rura.cli.")]


def accepts(command: Any, param: Any, value: Any) -> bool:
    """Whether ``param`` takes ``value`` (its type, range and callback)."""
    ctx = command.context_class(command)
    try:
        param.process_value(ctx, value)
    except typer.BadParameter:
        return False
    return True


def plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def annotation(param: Any) -> Any:
    """The Python type Typer built ``param`` from."""
    return param.type_descriptor.annotation


def counterparts() -> list[tuple[str, Any, Any, type[BaseModel], str]]:
    rows = []
    for path, command in commands():
        section = SECTION_OF.get(path)
        for param in command.params:
            field = FIELD_OF.get(param.name or "", param.name or "")
            if section and field in section.model_fields and (path, param.name) not in APART:
                rows.append((path, command, param, section, field))
    return rows


def test_every_section_command_is_registered():
    assert set(SECTION_OF) <= {path for path, _ in commands()}
    assert len(counterparts()) > 30


@pytest.mark.parametrize(
    ("command", "param", "section", "field"),
    [row[1:] for row in counterparts()],
    ids=[f"{row[0]} --{row[2].name}" for row in counterparts()],
)
def test_an_option_has_its_config_fields_default_and_limits(command, param, section, field):
    info = section.model_fields[field]
    assert plain(param.default) == plain(info.get_default(call_default_factory=True))
    kind_of = annotation(param)
    if isinstance(kind_of, type) and issubclass(kind_of, Enum):
        assert [c.value for c in kind_of] == list(info.annotation.__args__)
    step = 1 if "int" in str(kind_of) else 1e-9
    for kind, limit in field_bounds(section, field).items():
        inside = {"ge": limit, "gt": limit + step, "le": limit, "lt": limit - step}[kind]
        outside = {"ge": limit - step, "gt": limit, "le": limit + step, "lt": limit}[kind]
        assert accepts(command, param, str(inside)), f"{kind} {limit}: refuses {inside}"
        assert not accepts(command, param, str(outside)), f"{kind} {limit}: takes {outside}"
    if not field_bounds(section, field) and kind_of in (int, float):
        assert accepts(command, param, "-1000000"), "a limit the config does not have"


def test_shared_options_are_one_definition_everywhere():
    seen: dict[str, list[tuple[str, Any]]] = {name: [] for name in SHARED}
    for path, command in commands():
        if path in PENDING:
            continue
        for param in command.params:
            single = "--seeds" not in param.opts  # --seed/--seeds: a comma list of seeds
            if param.name in seen and single:
                seen[param.name].append((path, param))
    for name, found in seen.items():
        assert len(found) >= 3, name
        types = {(str(annotation(p)), p.min, p.max) for _, p in found}
        assert len(types) == 1, f"--{name}: types differ: {types}"
    for name in ("device", "seed", "workers", "on_error"):
        helps = {p.help for _, p in seen[name]}
        assert len(helps) == 1, f"--{name}: help differs: {helps}"
    assert {plain(p.default) for _, p in seen["device"]} == {"auto"}
    assert {plain(p.default) for _, p in seen["on_error"]} == {"raise"}
    policy = annotation(seen["on_error"][0][1])
    assert [c.value for c in policy] == list(
        RuntimeConfig.model_fields["on_error"].annotation.__args__
    )


def test_magic_values_are_gone():
    for path, command in commands():
        if path in PENDING:
            continue
        for param in command.params:
            assert "-1:" not in (param.help or ""), f"{path} --{param.name}: -1 means something"
            if param.name in ("size", "image_size", "threshold") and not param.default:
                assert param.default is None, f"{path} --{param.name}: {param.default} means unset"
                assert accepts(command, param, None), f"{path} --{param.name}: None is not unset"
            if param.name == "workers":
                assert accepts(command, param, None), f"{path} --workers: None is not automatic"
                assert not accepts(command, param, "-1"), f"{path} --workers takes -1"


def test_a_rule_across_options_names_the_options():
    from rura.errors import RuraError

    with pytest.raises(RuraError) as error:
        config_section(SegmentationConfig, size=256, patch=512)
    assert str(error.value).startswith("--patch, --size: patch 512 px is larger than size 256 px")
    with pytest.raises(RuraError, match=r"^--freeze-backbone, --embedding-dim, --loss: a frozen"):
        config_section(SimilarityConfig, freeze_backbone=True, embedding_dim=0, loss="both")
    with pytest.raises(typer.BadParameter) as bad:
        config_section(SegmentationConfig, {"architecture": "--arch"}, architecture=3)
    assert bad.value.param_hint == "'--arch'"


def test_the_compare_mappings_are_the_libraries():
    from rura.cli.compare_command import ClusterMapping
    from rura.diagnosis.mapping import MAPPINGS

    assert tuple(m.value for m in ClusterMapping) == MAPPINGS
