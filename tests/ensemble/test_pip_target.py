"""ensemble.pip_target: the bundle's target as pip options, constraints per torch choice, pruning pip's report."""
from __future__ import annotations

import pytest

from ensemble.pip_target import (Target, needed_without, parse_pins, pip_target_args, platform_tags,
                                 target_constraints)

TESTED = "# header\nnumpy==2.4.6\ntorch==2.13.0+cpu\nTyping_Extensions==4.16.0  # comment\n"


@pytest.mark.parametrize("platform, first, last, count", [
    ("manylinux_2_28_x86_64", "manylinux_2_28_x86_64", "manylinux1_x86_64", 24 + 3),
    ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux1_aarch64", 13 + 3),
    ("manylinux_2_5_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64", 1 + 1),
    ("win_amd64", "win_amd64", "win_amd64", 1)])
def test_platform_tags(platform, first, last, count):
    tags = platform_tags(platform)
    assert (tags[0], tags[-1], len(tags)) == (first, last, count)
    assert len(set(tags)) == len(tags)


def test_platform_tags_reject_nonsense():
    with pytest.raises(ValueError, match="not a wheel platform tag"):
        platform_tags("Linux x86-64")
    with pytest.raises(ValueError, match="glibc 2.x"):
        platform_tags("manylinux_3_1_x86_64")


def test_pip_args_and_target_validation():
    assert pip_target_args(Target()) == []
    args = pip_target_args(Target("3.12", "manylinux_2_17_x86_64"))
    assert args[:2] == ["--only-binary", ":all:"] and "--python-version" in args and "manylinux2014_x86_64" in args
    with pytest.raises(ValueError, match="did you mean 'ray'"):
        Target(extras=("rya",))
    with pytest.raises(ValueError, match="3.11"):
        Target(python_version="311")
    with pytest.raises(ValueError, match="--torch"):
        Target(torch="rocm")


def test_constraints_per_torch_choice():
    assert parse_pins(TESTED) == {"numpy": "2.4.6", "torch": "2.13.0+cpu", "typing-extensions": "4.16.0"}
    assert parse_pins(target_constraints(TESTED, "cpu"))["torch"] == "2.13.0+cpu"
    assert parse_pins(target_constraints(TESTED, "cuda"))["torch"] == "2.13.0"
    assert "torch" not in parse_pins(target_constraints(TESTED, "none"))
    with pytest.raises(ValueError, match="not name==version"):
        parse_pins("numpy>=2\n")


def _item(name, version, requires=(), requested=False, extras=()):
    return {"metadata": {"name": name, "version": version, "requires_dist": list(requires)},
            "requested": requested, "requested_extras": list(extras)}


def test_needed_without_drops_what_only_torch_needs():
    report = {"environment": {"python_version": "3.11", "sys_platform": "linux", "platform_machine": "x86_64"},
              "install": [
                  _item("arc-hybrid", "0.1.0", ["torch>=2.4", "numpy", "ray; extra == 'ray'"], requested=True),
                  _item("torch", "2.13.0", ["sympy", "filelock", "nvidia-cublas; platform_machine == 'x86_64'"]),
                  _item("numpy", "2.4.6", []), _item("sympy", "1.14", ["mpmath"]), _item("mpmath", "1.3", []),
                  _item("filelock", "3", []), _item("nvidia-cublas", "12", []), _item("ray", "2.60", ["filelock"])]}
    names = lambda items: sorted(i["metadata"]["name"] for i in items)  # noqa: E731
    assert names(needed_without(report, set())) == sorted(
        ["arc-hybrid", "numpy", "filelock", "mpmath", "nvidia-cublas", "sympy", "torch"])
    assert names(needed_without(report, {"torch"})) == ["arc-hybrid", "numpy"]
    report["install"][0]["requested_extras"] = ["ray"]
    assert names(needed_without(report, {"torch"})) == ["arc-hybrid", "filelock", "numpy", "ray"]
