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
    ("def transform(g):\n    return g  # scipy.signal in a comment names nothing\n", 0),
    ("from scipy.ndimage import label\n", 1),
    ("import scipy.ndimage as ndi\n", 1),
    ("from scipy import ndimage\n", 1),
    ("import scipy\nx = scipy.ndimage.label\n", 1),
    ("from scipy import (ndimage,\n    )\n", 1),
    ("import scipy\n", 1),                        # bare and unused: any lane with scipy
    ("import scipy as sp\n", 1),
    ("import scipy as sp\ny = sp.signal.convolve2d\n", 2),  # an alias, resolved through the tree
    ("from scipy import (ndimage,\n    signal)\n", 2),      # multi-line import list
    ("from scipy import ndimage, \\\n    signal\n", 2),     # backslash continuation
    ("import sys\nm = sys.modules['scipy.signal']\n", 2),
    ("import importlib\nm = importlib.import_module('scipy.ndimage')\n", 1),
    ("from scipy.signal import convolve2d\n", 2),
    ("from scipy import ndimage, stats\n", 2),
    ("from scipy.sparse.csgraph import connected_components\n", 2),
    ("import scipy\nf = getattr(scipy, 'sig' + 'nal')\n", LAST),  # used other than by attribute
    ("m = __import__('scipy')\n", LAST),           # dynamic use of the bare package
    ("import importlib\nm = importlib.import_module('sci' + 'py')\n", LAST),
    ("from scipy import *\n", LAST),
    ("import scipy.ndimage\ndef transform(g:\n", LAST),  # does not parse
    ("from scipy.io import loadmat\n", LAST),       # in no tier: the largest one (it fails there too)
    ("from scipyish import x\nimport notscipy\n", 0),  # other names
])
def test_lane_of_a_program(source, lane):
    assert pick(needs(source, TIERS), TIERS) == lane


def test_scan_is_linear_on_crafted_text():
    """The old regex scanner was quadratic on text like this (0.2 s for 199 K characters)."""
    import time

    crafted = "import scipy\n" + "x = (scipy.ndimage, 'scipy', scipy .signal)\n" * 5000 + "#" + " scipy" * 30000
    ordinary = "import numpy as np\nfrom scipy import ndimage\ndef transform(g):\n    return ndimage.label(g)[0]\n"
    t0 = time.perf_counter()
    assert needs(crafted, TIERS) == {"scipy", "scipy.ndimage", "scipy.signal"}
    crafted_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(20):
        needs(ordinary + f"# {i}\n", TIERS)
    ordinary_s = (time.perf_counter() - t0) / 20
    per_char = (crafted_s / len(crafted)) / (ordinary_s / len(ordinary))
    assert per_char < 20, (crafted_s, ordinary_s)


def test_prelude_names_count_for_every_program(tmp_path):
    prelude = tmp_path / "common.py"
    prelude.write_text("def objects(g):\n    from scipy.ndimage import label\n    return label(g)\n")
    sb = Sandbox(make_config(prelude_path=str(prelude), bwrap="off"))
    assert sb.primary == 1
    assert sb.lane_of("def transform(g):\n    return g\n") == 1
    assert sb.lane_of("from scipy.signal import convolve2d\n") == 2


def test_each_lane_offers_its_modules():
    # The names are built at run time, so only the import that never runs decides the lane.
    src = ("import sys\nP = 'sci' + 'py.'\ndef transform(g):\n"
           "    return [[int(P + 'ndimage' in sys.modules), int(P + 'signal' in sys.modules)]]\n")
    kdtree = ("import numpy as np\nfrom scipy.spatial import cKDTree\ndef transform(g):\n"
              "    pts = np.argwhere(g >= 0)\n    return [[int(cKDTree(pts).query(pts, workers=-1)[1][0])]]\n")
    with Sandbox(make_config(bwrap="off")) as sb:
        base, nd, full, threads = sb.run([
            job(src, pid="base"), job(src + "if False:\n    import scipy.ndimage\n", pid="nd"),
            job(src + "if False:\n    from scipy import signal\n", pid="full"), job(kdtree, pid="kdtree")])
        assert sb.primary == 0
    assert "threads are not allowed in the arc-hybrid sandbox" in threads.error, threads
    assert base.grids[0].output.to_list() == [[0, 0]]
    assert nd.grids[0].output.to_list() == [[1, 0]]
    assert full.grids[0].output.to_list() == [[1, 1]]


def test_one_lane_when_no_tiers():
    with Sandbox(make_config(bwrap="off", module_tiers=())) as sb:
        (res,) = sb.run([job("import scipy.ndimage\ndef transform(g):\n    return g\n")])
    assert res.grids[0].error_type == "ModuleNotFoundError"
