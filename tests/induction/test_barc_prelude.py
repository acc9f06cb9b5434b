"""The README's BARC example end to end on CPU: BARC-style model responses (`from common import *`)
imported with `induce --programs ... --prelude common.py`, where the prelude is a helper library of
our own in BARC's style whose object helpers use `scipy.ndimage` (BARC's own `common.py` is not in
this project: users bring it). The program must verify and the run must score."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ensemble.cli import main

PRELUDE = '''"""A BARC-style helper library (our own): colour names and connected objects."""
import numpy as np
from scipy.ndimage import label


class Color:
    BLACK, BLUE, RED, GREEN, YELLOW, GREY, PINK, ORANGE, TEAL, MAROON = range(10)


def find_connected_components(grid, background=Color.BLACK, connectivity=4):
    """One array per connected non-background object, same shape as grid, background elsewhere."""
    structure = None if connectivity == 4 else np.ones((3, 3), dtype=int)
    labels, n = label(grid != background, structure=structure)
    return [np.where(labels == k, grid, background) for k in range(1, n + 1)]


def crop(grid, background=Color.BLACK):
    """The bounding box of the non-background cells."""
    rows, cols = np.nonzero(grid != background)
    return grid[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
'''

RESPONSE = '''Each input holds several objects; the output is the largest one, cut out.

```python
from common import *

import numpy as np
from typing import *

# concepts: objects, size, cropping
# description: output the largest connected object, cropped to its bounding box.

def transform(input_grid):
    objects = find_connected_components(input_grid, background=Color.BLACK, connectivity=4)
    largest = max(objects, key=lambda obj: np.sum(obj != Color.BLACK))
    return crop(largest, background=Color.BLACK)
```
'''


def _pair(rng: np.random.Generator, big: int) -> tuple[list, list]:
    """A 10x10 black grid with one big square object and two single cells."""
    grid = np.zeros((10, 10), dtype=int)
    colour = int(rng.integers(1, 10))
    grid[1:1 + big, 1:1 + big] = colour
    grid[8, 8], grid[8, 1] = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    return grid.tolist(), np.full((big, big), colour).tolist()


@pytest.fixture
def largest_object_task(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    train = [_pair(rng, b) for b in (2, 3, 4)]
    test_in, test_out = _pair(rng, 5)
    obj = {"train": [{"input": i, "output": o} for i, o in train], "test": [{"input": test_in, "output": test_out}]}
    path = tmp_path / "barc0001.json"
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture(scope="module")
def sandbox_has_scipy() -> None:
    """Skip unless scipy.ndimage is installed and the sandbox lets a program import it."""
    pytest.importorskip("scipy.ndimage", reason="scipy is not installed (a runtime dependency from issue 14)")
    from sandbox import ProgramJob, Sandbox, SandboxConfig

    from arc_core.grid import Grid

    source = "import scipy.ndimage\ndef transform(grid):\n    return grid\n"
    with Sandbox(SandboxConfig()) as sandbox:
        (result,) = sandbox.run([ProgramJob("probe", source, (Grid(((1,),)),))])
    if str(getattr(result.status, "value", result.status)) != "ok":
        pytest.skip(f"the sandbox does not allow scipy.ndimage yet ({result.status}: {result.error}); "
                    "it comes with the sandbox module policy of issue 14")


def test_readme_barc_example_with_a_scipy_prelude(tmp_path, capsys, largest_object_task, sandbox_has_scipy):
    prelude = tmp_path / "common.py"
    prelude.write_text(PRELUDE)
    responses = tmp_path / "barc_responses.jsonl"
    responses.write_text(json.dumps({"task_id": "barc0001", "responses": [RESPONSE, RESPONSE, "no idea"]}) + "\n")
    out = tmp_path / "run"
    rc = main(["induce", "--dataset", str(largest_object_task), "--programs", str(responses),
               "--prelude", str(prelude), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "1 with a verified program" in text and "kaggle score 1 / 1" in text
    config = json.loads((out / "config.json").read_text())
    assert config["induction"]["n_samples"] == 0 and config["induction"]["prelude_path"] == str(prelude)
