"""Config building: TOML/YAML files + typed `key=value` overrides into frozen dataclasses."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from arc_core.config import build, load_config_file, merge, parse_overrides, to_dict


class Mode(str, enum.Enum):
    FAST = "fast"
    FORK = "fork"


@dataclass(frozen=True)
class Inner:
    rank: int = 8
    alpha: float = 16.0
    modules: tuple[str, ...] = ("q_proj",)
    dropout: float | None = None

    def __post_init__(self) -> None:
        if self.rank <= 0:
            raise ValueError(f"rank must be positive, got {self.rank}")


@dataclass(frozen=True)
class Outer:
    name: str = "run"
    seed: int = 0
    verbose: bool = False
    backend: Literal["hf", "vllm", "openai"] = "hf"
    mode: Mode = Mode.FORK
    out: Path = Path("runs")
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[int, str] = (0, "a")
    weights: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def test_build_from_toml_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "x"\nseed = 3\nverbose = true\nsizes = [4, 5]\nmode = "fast"\n'
                    'weights = { a = 1, b = 0.5 }\n[inner]\nrank = 16\nmodules = ["k", "v"]\n')
    cfg = build(Outer, load_config_file(path))
    assert cfg == Outer(name="x", seed=3, verbose=True, sizes=(4, 5), mode=Mode.FAST,
                        weights={"a": 1.0, "b": 0.5}, inner=Inner(rank=16, modules=("k", "v")))
    assert isinstance(cfg.weights["a"], float)


def test_overrides_are_typed_by_field():
    cfg = build(Outer, parse_overrides([
        "seed=7", "verbose=yes", "backend=vllm", "mode=fast", "out=/tmp/x", "sizes=3,4",
        "pair=[5, \"b\"]", "weights.w=0.25", "inner.rank=32", "inner.alpha=2", "inner.dropout=0.1",
        "inner.modules=[\"a\",\"b\"]", "name=1",
    ]))
    assert (cfg.seed, cfg.verbose, cfg.backend, cfg.mode, cfg.out) == (7, True, "vllm", Mode.FAST, Path("/tmp/x"))
    assert cfg.sizes == (3, 4) and cfg.pair == (5, "b") and cfg.weights == {"w": 0.25}
    assert cfg.inner == Inner(rank=32, alpha=2.0, modules=("a", "b"), dropout=0.1)
    assert cfg.name == "1" and type(cfg.seed) is int and type(cfg.inner.alpha) is float
    assert build(Outer, parse_overrides(["inner.dropout=none"])).inner.dropout is None


@pytest.mark.parametrize("text,value", [("true", True), ("1", True), ("on", True), ("False", False),
                                        ("no", False), ("off", False), ("0", False)])
def test_bool_overrides(text, value):
    assert build(Outer, parse_overrides([f"verbose={text}"])).verbose is value


@pytest.mark.parametrize("data,message", [
    ({"sed": 1}, "unknown config key 'sed' (did you mean 'seed'?)"),
    ({"inner": {"rnk": 1}}, "unknown config key 'inner.rnk' (did you mean 'rank'?)"),
    ({"zzzzzz": 1}, "(known: backend, inner, mode, name, out, pair, seed, sizes, verbose, weights)"),
    ({"verbose": "maybe"}, "config verbose: expected true/false, got 'maybe'"),
    ({"verbose": 1}, "config verbose: expected true/false"),
    ({"seed": "x"}, "config seed: expected an integer, got 'x'"),
    ({"seed": True}, "config seed: expected an integer, got True"),
    ({"seed": 1.5}, "config seed: expected an integer, got 1.5"),
    ({"inner": {"alpha": False}}, "config inner.alpha: expected a number, got False"),
    ({"backend": "vlm"}, "config backend: 'vlm' is not one of hf, vllm, openai (did you mean 'vllm'?)"),
    ({"mode": "slow"}, "config mode: 'slow' is not one of ['fast', 'fork']"),
    ({"name": 3}, "config name: expected a string, got 3"),
    ({"sizes": 3}, "config sizes: expected a list, got 3"),
    ({"sizes": ["a"]}, "config sizes[0]: expected an integer, got 'a'"),
    ({"pair": [1]}, "config pair: expected 2 items, got 1"),
    ({"inner": 5}, "config inner: expected a table, got 5"),
    ({"weights": [1]}, "config weights: expected a table"),
    ({"inner": {"rank": 0}}, "rank must be positive, got 0"),
])
def test_bad_values_are_clear_errors(data, message):
    with pytest.raises(ValueError) as err:
        build(Outer, data)
    assert message in str(err.value)


@pytest.mark.parametrize("items,message", [
    (["seed"], "is not of the form key=value"),
    (["inner..rank=1"], "has an empty key part"),
    (["inner=1", "inner.rank=2"], "conflicts with another override"),
    (["inner.rank=2", "inner=1"], "conflicts with another override"),
])
def test_bad_overrides(items, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides(items)


def test_bad_list_override():
    with pytest.raises(ValueError, match=r"config sizes: '\[1,' is not a JSON list"):
        build(Outer, parse_overrides(["sizes=[1,"]))


def test_merge_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("seed = 1\n[inner]\nrank = 4\nalpha = 3.0\n")
    cfg = build(Outer, merge(load_config_file(path), parse_overrides(["inner.rank=9"])))
    assert cfg.seed == 1 and cfg.inner.rank == 9 and cfg.inner.alpha == 3.0


def test_to_dict_round_trips():
    cfg = Outer(out=Path("a/b"), mode=Mode.FAST, sizes=(9,), weights={"x": 2.0}, inner=Inner(dropout=0.5))
    d = to_dict(cfg)
    assert d["out"] == "a/b" and d["mode"] == "fast" and d["inner"]["modules"] == ["q_proj"]
    assert build(Outer, d) == cfg


@pytest.mark.parametrize("name,text,message", [
    ("c.toml", "seed = = 1", "invalid TOML"),
    ("c.ini", "seed=1", "unknown config format '.ini'"),
])
def test_bad_config_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config_file(path)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config_file(tmp_path / "missing.toml")


def test_yaml_config_file(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "c.yaml"
    path.write_text("seed: 4\ninner:\n  rank: 2\n")
    assert build(Outer, load_config_file(path)) == Outer(seed=4, inner=Inner(rank=2))
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        load_config_file(path)
