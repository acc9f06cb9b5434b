"""Lane routing (sandbox/lanes.py): each program runs in the leanest zygote that has what it names."""
from __future__ import annotations

import pytest

from _sandbox_support import job, make_config  # type: ignore[import-not-found]
from sandbox import DEFAULT_MODULE_TIERS, Sandbox
from sandbox.lanes import needs, pick

TIERS = DEFAULT_MODULE_TIERS
LAST = len(TIERS)


@pytest.mark.parametrize("source, lane", [
    ("import numpy as np\ndef transform(g):\n    return np.unique(g)\n", 0),
    ("def transform(g):\n    return g  # no scientific stack\n", 0),
    ("from scipy.ndimage import label\n", 1),
    ("import scipy.ndimage as ndi\n", 1),
    ("from scipy import ndimage\n", 1),
    ("import scipy\nx = scipy.ndimage.label\n", 1),
    ("from scipy import (ndimage,\n    )\n", 1),
    ("from scipy.signal import convolve2d\n", 2),
    ("from scipy import ndimage, stats\n", 2),
    ("from scipy.sparse.csgraph import connected_components\n", 2),
    ("import scipy as sp\n", LAST),                 # an alias: cannot tell what it uses
    ("m = __import__('scipy')\n", LAST),           # dynamic
    ("from scipy.io import loadmat\n", LAST),       # in no tier: the largest one (it fails there too)
    ("from scipyish import x\nimport notscipy\n", 0),  # other names
])
def test_lane_of_a_program(source, lane):
    assert pick(needs(source, TIERS), TIERS) == lane


def test_prelude_names_count_for_every_program(tmp_path):
    prelude = tmp_path / "common.py"
    prelude.write_text("def objects(g):\n    from scipy.ndimage import label\n    return label(g)\n")
    sb = Sandbox(make_config(prelude_path=str(prelude), bwrap="off"))
    assert sb.primary == 1
    assert sb.lane_of("def transform(g):\n    return g\n") == 1
    assert sb.lane_of("from scipy.signal import convolve2d\n") == 2


def test_each_lane_offers_its_modules():
    # The names are built at run time, so only the appended comment decides the lane.
    src = ("import sys\nP = 'sci' + 'py.'\ndef transform(g):\n"
           "    return [[int(P + 'ndimage' in sys.modules), int(P + 'signal' in sys.modules)]]\n")
    with Sandbox(make_config(bwrap="off")) as sb:
        base, nd, full = sb.run([job(src, pid="base"), job(src + "# scipy.ndimage\n", pid="nd"),
                                 job(src + "# scipy.signal\n", pid="full")])
        assert sb.primary == 0
    assert base.grids[0].output.to_list() == [[0, 0]]
    assert nd.grids[0].output.to_list() == [[1, 0]]
    assert full.grids[0].output.to_list() == [[1, 1]]


def test_one_lane_when_no_tiers():
    with Sandbox(make_config(bwrap="off", module_tiers=())) as sb:
        (res,) = sb.run([job("import scipy.ndimage\ndef transform(g):\n    return g\n")])
    assert res.grids[0].error_type == "ModuleNotFoundError"
