"""Checked reading of the JSON and safetensors files rura saves (model folders, segmenters,
Siamese models): each field validated by a strict pydantic model, each problem one line naming
the file, the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rura.bounded import MAX_BYTES, check_shape
from rura.errors import RuraError

Name = Annotated[str, Field(min_length=1)]
Number = Annotated[float, Field(allow_inf_nan=False)]
_Model = TypeVar("_Model", bound=BaseModel)


class StrictModel(BaseModel):
    """JSON values as written: no string-to-number coercion; unknown keys are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``; a one-line :class:`RuraError` naming it and ``fix``."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise RuraError(f"{path}: {size / 2**20:.1f} MiB is too big for this file; {fix}")
        value = json.loads(path.read_bytes())
        check_shape(value, str(path))
    except FileNotFoundError:
        raise RuraError(f"{path}: missing; {fix}") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError
        raise RuraError(f"{path}: not valid JSON ({_one_line(error)}); {fix}") from None
    except OSError as error:
        raise RuraError(f"{path}: unreadable ({_one_line(error)}); {fix}") from None
    if not isinstance(value, dict):
        raise RuraError(f"{path}: a JSON object expected, got {_kind(value)}; {fix}")
    return value


def validated(model: type[_Model], data: dict[str, Any], path: Path, fix: str) -> _Model:
    """``data`` checked by the pydantic ``model``; its first error as one line naming ``path``."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RuraError(f"{path}: {field_problem(error.errors()[0])}; {fix}") from None


def field_problem(item: Any) -> str:
    """One pydantic error as ``field 'a.b' must be ..., got ...``."""
    field = ".".join(str(part) for part in item["loc"])
    if item["type"] == "missing":
        return f"field {field!r} is missing"
    message = str(item["msg"])
    if not field:  # a check of the whole object phrases its own message
        return message.removeprefix("Value error, ")
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    else:
        message = "is invalid: " + message[:1].lower() + message[1:]
    return f"field {field!r} {message}, got {shown(item.get('input'))}"


def tensor_header(path: Path, fix: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each tensor's shape and dtype (``F32``, ``I64``...) from a safetensors file's header; a
    one-line :class:`RuraError` when it is not a complete safetensors file (no data is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = {}
            for name in handle.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                tensor = handle.get_slice(name)
                header[name] = (tuple(int(n) for n in tensor.get_shape()), tensor.get_dtype())
            return header
    except FileNotFoundError:
        raise RuraError(f"{path}: missing; {fix}") from None
    except Exception as error:  # safetensors raises its own error type for a bad header
        raise RuraError(
            f"{path}: not a readable safetensors file ({_one_line(error)}); {fix}"
        ) from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def shown(value: Any) -> str:
    """``value`` as a short one-line repr for a message."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."
