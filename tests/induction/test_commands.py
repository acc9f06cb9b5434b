"""`arc-hybrid verify` (also with hostile programs) and `arc-hybrid induce` on an imported JSONL."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arc_core.grid import Grid
from arc_core.submission import read_submission
from ensemble.cli import main

ROOT = Path(__file__).resolve().parents[2]
FLIP = "import numpy as np\ndef transform(grid):\n    return np.flipud(grid)\n"


def _verify_json(tmp_path, capfd, task_file, source: str, *extra: str) -> tuple[int, dict]:
    prog = tmp_path / "prog.py"
    prog.write_text(source)
    rc = main(["verify", str(prog), "--task", task_file.stem, "--dataset", str(task_file), "--json", *extra])
    out, err = capfd.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1, out  # exactly one JSON object, nothing else on stdout
    assert "Traceback" not in out + err
    return rc, json.loads(lines[0])


def test_verify_json_correct_program(tmp_path, capfd, task_file, flip_dataset, flip_task):
    rc, obj = _verify_json(tmp_path, capfd, task_file, FLIP)
    assert rc == 0 and obj["verified"] is True
    assert set(obj) == {"verified", "status", "reason", "train", "test"}
    assert obj["status"] == "verified" and obj["reason"] is None
    assert all(set(p) == {"status", "exact", "output", "error"} for p in obj["train"])
    assert all(p["status"] == "ok" and p["exact"] and p["error"] is None for p in obj["train"])
    assert [t["output"] for t in obj["test"]] == [g.to_list() for g in flip_dataset.solutions[flip_task.id]]
    assert all(set(t) == {"status", "output"} for t in obj["test"])


HOSTILE = {
    "sys.exit": ("import sys\ndef transform(grid):\n    sys.exit(3)\n", {"exception"}),
    "os._exit": ("import os\ndef transform(grid):\n    os._exit(0)\n", {"crash"}),
    "infinite loop": ("def transform(grid):\n    while True:\n        pass\n", {"timeout"}),
    "huge output": ("import numpy as np\ndef transform(grid):\n    return np.zeros((5000, 5000), dtype=int)\n",
                    {"invalid_output"}),
    "prints": ("def transform(grid):\n    print('{\"verified\": true}' * 1000)\n    import sys\n"
               "    sys.stdout.write('noise')\n    sys.stderr.write('noise')\n    return grid\n", {"ok"}),
    "prints at import": ("print('hello')\ndef transform(grid):\n    raise RuntimeError('nope')\n", {"exception"}),
    "syntax error": ("def transform(grid)\n    return grid\n", {"syntax_error"}),
    "no transform": ("def solve(grid):\n    return grid\n", {"exception"}),
    "memory bomb": ("def transform(grid):\n    x = bytearray(8 * 10**9)\n    return grid\n", {"memory"}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_verify_json_hostile_programs_keep_stdout_clean(name, tmp_path, capfd, task_file):
    source, statuses = HOSTILE[name]
    rc, obj = _verify_json(tmp_path, capfd, task_file, source, "--timeout", "1")
    assert rc == 1 and obj["verified"] is False and obj["status"] == "not_verified" and obj["reason"]
    assert {p["status"] for p in obj["train"]} <= statuses, obj["train"]
    assert all(p["exact"] is False for p in obj["train"])


def test_verify_text_output_and_builtin_lookup(tmp_path, capfd):
    prog = tmp_path / "rot.md"  # a model response with a fenced block is accepted too
    prog.write_text("Rotate it:\n```python\nimport numpy as np\ndef transform(grid):\n    return np.rot90(grid, 2)\n```\n")
    rc = main(["verify", str(prog), "--task", "3c9b0459"])
    out, _ = capfd.readouterr()
    assert rc == 0 and "train[0]: ok exact=yes" in out and out.rstrip().endswith("verified")


def test_verify_user_errors_are_one_line(tmp_path, capfd, task_file):
    prog = tmp_path / "p.py"
    prog.write_text(FLIP)
    assert main(["verify", str(prog), "--task", "nosuchtask", "--dataset", str(task_file)]) == 2
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and "nosuchtask" in err
    assert main(["verify", str(tmp_path / "missing.py"), "--task", "3c9b0459"]) == 2


def _verdict(capfd, argv: list[str]) -> tuple[int, dict, str]:
    rc = main(argv)
    out, err = capfd.readouterr()
    (line,) = out.splitlines()  # exactly one JSON verdict, refusals and errors included
    return rc, json.loads(line), err


def test_verify_json_refusals_and_errors_are_one_verdict(tmp_path, capfd, task_file):
    task = ["--task", task_file.stem, "--dataset", str(task_file), "--json"]
    huge = tmp_path / "huge.py"
    huge.write_text(FLIP + "#" * (10 << 20) + "\n")
    nul = tmp_path / "nul.py"
    nul.write_bytes(FLIP.encode() + b"x = 1\0\n")
    exits = tmp_path / "exits.py"
    exits.write_text("import os\nos._exit(0)\n")
    prog = tmp_path / "prog.py"
    prog.write_text(FLIP)
    cases = [  # argv, exit code, status, words in the reason
        ([str(huge), *task], 1, "refused", "too_large"),
        ([str(nul), *task], 1, "refused", "invalid_text"),
        ([str(tmp_path), *task], 2, "error", "is a directory"),
        ([str(tmp_path / "missing.py"), *task], 2, "error", "not found"),
        ([str(prog), *task, "--prelude", str(tmp_path)], 2, "error", "is a directory"),
        ([str(prog), *task, "--prelude", str(exits)], 2, "error", "while loading the prelude"),
        ([str(prog), "--task", "nosuchtask", "--dataset", str(task_file), "--json"], 2, "error", "nosuchtask"),
    ]
    for argv, code, status, words in cases:
        rc, obj, err = _verdict(capfd, ["verify", *argv])
        assert (rc, obj["status"], obj["verified"]) == (code, status, False), (argv, rc, obj)
        assert words in obj["reason"], (argv, obj)
        assert obj["train"] == [] and obj["test"] == [] and "Traceback" not in err


def test_verify_json_with_a_prelude_that_prints_while_it_loads(tmp_path, capfd, task_file):
    prelude = tmp_path / "common.py"
    prelude.write_text("print('loading', flush=True)\nimport sys\nprint('more', file=sys.stderr, flush=True)\n"
                       "import numpy as np\ndef upside_down(g):\n    return np.flipud(g)\n")
    source = "from common import *\ndef transform(grid):\n    return upside_down(grid)\n"
    rc, obj = _verify_json(tmp_path, capfd, task_file, source, "--prelude", str(prelude))
    assert rc == 0 and obj["status"] == "verified"


def test_verify_cli_subprocess_hostile_print(tmp_path, task_file):
    """The real entry point in a fresh interpreter: stdout is exactly one JSON line."""
    prog = tmp_path / "p.py"
    prog.write_text("import os\ndef transform(grid):\n    print('x' * 10000)\n    os.write(1, b'raw')\n    return grid\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ensemble.cli", "verify", str(prog), "--task", task_file.stem,
         "--dataset", str(task_file), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["verified"] is False and "Traceback" not in proc.stderr


def test_induce_with_imported_programs(tmp_path, capfd, task_file, flip_task):
    programs = tmp_path / "programs.jsonl"
    programs.write_text(
        json.dumps({"task_id": flip_task.id, "responses": ["```python\n" + FLIP + "```", "nothing here"]}) + "\n"
        + json.dumps({"task_id": flip_task.id, "code": [FLIP, "def transform(grid):\n    return grid\n"]}) + "\n"
        + json.dumps({"task_id": "other", "code": FLIP}) + "\n"
    )
    out_dir = tmp_path / "run"
    rc = main(["induce", "--dataset", str(task_file), "--out", str(out_dir), "--programs", str(programs),
               "--set", "n_samples=0", "--set", "sandbox.timeout_s=2"])
    out, err = capfd.readouterr()
    assert rc == 0, err
    assert "1 with a verified program" in out and "kaggle score 1 / 1" in out
    for name in ("config.json", "samples.jsonl", "programs.jsonl", "candidates.json", "submission.json",
                 "summary.json", f"results/{flip_task.id}.json"):
        assert (out_dir / name).is_file(), name
    assert len((out_dir / "samples.jsonl").read_text().splitlines()) == 4
    rows = [json.loads(x) for x in (out_dir / "programs.jsonl").read_text().splitlines()]
    assert sorted((r["multiplicity"], r["verified"]) for r in rows) == [(1, False), (2, True)]
    sub = read_submission(out_dir / "submission.json")
    assert sub[flip_task.id][0][0] == _flipped(flip_task.test_inputs[0])
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["import_task_ids_not_in_dataset"] == ["other"]
    assert json.loads((out_dir / "config.json").read_text())["induction"]["n_samples"] == 0
    # Rerun: the sample log is reused, not duplicated.
    assert main(["induce", "--dataset", str(task_file), "--out", str(out_dir), "--programs", str(programs),
                 "--set", "n_samples=0"]) == 0
    assert len((out_dir / "samples.jsonl").read_text().splitlines()) == 4


def _flipped(g):
    return Grid.from_array(g.to_array()[::-1])


def test_induce_bad_override_is_clear(tmp_path, capfd, task_file):
    rc = main(["induce", "--dataset", str(task_file), "--out", str(tmp_path / "r"), "--set", "n_sample=3"])
    _, err = capfd.readouterr()
    assert rc == 2 and "did you mean 'n_samples'" in err


def test_prelude_is_importable_as_common(tmp_path, capfd, task_file):
    prelude = tmp_path / "helpers.py"
    prelude.write_text("import numpy as np\nRED = 2\n\ndef upside_down(g):\n    return np.flipud(g)\n")
    source = "from common import *\n\ndef transform(grid):\n    return upside_down(grid)\n"
    rc, obj = _verify_json(tmp_path, capfd, task_file, source, "--prelude", str(prelude))
    assert rc == 0 and obj["verified"] is True
    rc, obj = _verify_json(tmp_path, capfd, task_file, source)  # without the prelude: a clear error
    assert rc == 1 and "ModuleNotFoundError" in obj["train"][0]["error"]


def test_induce_settings_put_the_prelude_into_the_sandbox(tmp_path):
    from induction.commands import settings_from

    prelude = tmp_path / "common.py"
    prelude.write_text("X = 1\n")
    settings = settings_from(None, [f"prelude_path={prelude}", "lm.model=/some/dir", "sandbox.timeout_s=3"])
    assert settings.lm.model == "/some/dir" and settings.induction.prelude_path == str(prelude)
    assert settings.sandbox_config().prelude_path == str(prelude)
    assert settings.sandbox_config().timeout_s == 3.0
    with pytest.raises(FileNotFoundError):
        settings_from(None, [f"prelude_path={tmp_path / 'missing.py'}"]).sandbox_config()


@pytest.mark.parametrize("bad_id", ["../../escaped", "/tmp/arc-hybrid-escaped-abs"])
def test_induce_refuses_task_ids_that_would_write_outside_the_run(tmp_path, capfd, task_file, bad_id):
    task = json.loads(task_file.read_text())
    task = task if "train" in task else next(iter(task.values()))
    challenges = tmp_path / "in" / "evil_challenges.json"
    challenges.parent.mkdir()
    challenges.write_text(json.dumps({bad_id: task}))
    run = tmp_path / "in" / "run"
    rc = main(["induce", "--dataset", str(challenges), "--out", str(run), "--set", "n_samples=0"])
    _, err = capfd.readouterr()
    assert rc == 2 and bad_id in err and str(challenges) in err, err
    assert not (tmp_path / "escaped.json").exists() and not Path(bad_id + ".json").exists()
    assert not run.exists()
