"""Build frozen config dataclasses from a TOML/YAML file plus `key=value` overrides.

Every package defines its own frozen dataclasses (validated in `__post_init__`); the CLI builds
them once here, at the edge, and passes them down. Nested dataclass fields map to TOML tables;
overrides use dotted paths (`transduction.lora_rank=16`). Values of overrides are parsed by the
field's annotated type, so `--set induction.n_samples=8` gives an int and a wrong type or an
unknown key is a clear error ("did you mean …?").
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (.toml) or YAML (.yaml/.yml) file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    text = path.read_text()
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: invalid TOML: {e}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path}: reading YAML needs PyYAML (pip install pyyaml)") from None
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: top level must be a mapping")
        return data
    raise ValueError(f"{path}: unknown config format {path.suffix!r} (use .toml or .yaml)")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn ["a.b=1", "c=x"] into a nested dict of *strings* (typed later by `build`)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ValueError(f"override {item!r} has an empty key part")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r} conflicts with another override")
        if isinstance(node.get(parts[-1]), dict):
            raise ValueError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = _Raw(value)
    return out


class _Raw(str):
    """A string from the command line, to be parsed according to the target field's type."""


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two nested dicts, `top` winning."""
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def build(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Instantiate dataclass `cls` from `data`, recursing into nested dataclasses."""
    if not isinstance(data, Mapping):
        raise ValueError(f"config {path or cls.__name__}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(fields))})"
        raise ValueError(f"unknown config key {_join(path, k)!r}{hint}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, _join(path, name))
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"config {path or cls.__name__}: {e}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if isinstance(value, _Raw) and value.lower() in ("none", "null"):
            return None
        if value is None:
            return None
        errors = []
        for a in args:
            try:
                return _convert(a, value, path)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if errors else f"config {path}: bad value {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        for a in allowed:  # a command-line string matches a non-string literal by its text
            if (value == a and type(value) is type(a)) or (isinstance(value, _Raw) and str(a) == value):
                return a
        close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"config {path}: {value!r} is not one of {', '.join(map(str, allowed))}{hint}")
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"config {path}: expected a table, got {value!r}")
        args = typing.get_args(tp)
        value_t = args[1] if len(args) == 2 else Any
        return {str(k): _convert(value_t, v, _join(path, str(k))) for k, v in value.items()}
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if isinstance(value, _Raw):
            value = _split_list(value, path)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config {path}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis or len(args) <= 1:
            item_types = [args[0] if args else Any] * len(value)
        else:  # a fixed-length tuple[a, b, ...]
            if len(value) != len(args):
                raise ValueError(f"config {path}: expected {len(args)} items, got {len(value)}")
            item_types = list(args)
        return tuple(
            _convert(t, _Raw(v) if isinstance(v, str) else v, f"{path}[{i}]")
            for i, (t, v) in enumerate(zip(item_types, value))
        )
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"config {path}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError(f"config {path}: expected an integer, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"config {path}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"config {path}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(f"config {path}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"config {path}: expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"config {path}: expected a string, got {value!r}")
        return str(value)
    if tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, __import__("enum").Enum):
        try:
            return tp(value)
        except ValueError:
            raise ValueError(f"config {path}: {value!r} is not one of {[m.value for m in tp]}") from None
    if tp is Path:
        return Path(value)
    return value


def _split_list(text: str, path: str) -> list[Any]:
    """A command-line list: JSON (`[1, 2]`) or comma-separated (`a,b`)."""
    if not text.strip().startswith("["):
        return [v.strip() for v in text.split(",") if v.strip()]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"config {path}: {text!r} is not a JSON list ({e.msg})") from None
    if not isinstance(value, list):
        raise ValueError(f"config {path}: expected a list, got {text!r}")
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON/TOML-serialisable dict of a (nested) config dataclass."""
    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        if hasattr(v, "value") and isinstance(getattr(type(v), "__members__", None), Mapping):
            return v.value
        return v
    return conv(cfg)
