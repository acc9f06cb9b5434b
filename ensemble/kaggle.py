"""What the Kaggle notebook of an offline bundle runs once the bundle is installed.

`kaggle_run(...)`: find the competition's challenges file under the input root (`find_challenges`),
write a complete placeholder `submission.json` where Kaggle reads it (so a notebook stopped at any
moment leaves a valid file), run `arc-hybrid run` on it in a child process (`run_argv`: preset, the
user's model, `--time-budget`, extra arguments), and copy the run's own `submission.json` over the
published one whenever it changes and validates (atomically: a temporary file, then a rename), and
once more at the end. The run directory stays off `/kaggle/working` (adapters are large); only the
submission is published.

Caveat: `--time-budget` is `arc-hybrid run`'s flag for the global deadline; `time_budget=""` leaves it
out (an unbounded run).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from arc_core.datasets import load_dataset
from arc_core.submission import read_submission, write_submission

# Search order: the competition's hidden test file, any test challenges, then evaluation (a dry run).
CHALLENGE_PATTERNS = ("arc-agi_test_challenges.json", "*test_challenges.json", "*evaluation_challenges.json")


def find_challenges(root: str | Path) -> Path:
    """The first file under `root` matching `CHALLENGE_PATTERNS`, in that order (sorted paths)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such input directory")
    for pattern in CHALLENGE_PATTERNS:
        found = sorted(p for p in root.rglob(pattern) if p.is_file())
        if found:
            return found[0]
    raise FileNotFoundError(f"no challenges file under {root} (looked for {', '.join(CHALLENGE_PATTERNS)}): "
                            "attach the competition's data to the notebook")


def run_argv(challenges: Path, run_dir: Path, preset: str, model: str = "", induction_model: str = "",
             time_budget: str = "", extra_args: Sequence[str] = ()) -> list[str]:
    """The `arc-hybrid run` command line the notebook runs."""
    argv = [sys.executable, "-m", "ensemble.cli", "run", "--dataset", str(challenges), "--out", str(run_dir),
            "--preset", preset]
    if model:
        argv += ["--set", f"transduction.model={model}"]
    if induction_model:
        argv += ["--set", f"lm.model={induction_model}"]
    if time_budget:
        argv += ["--time-budget", time_budget]
    return argv + list(extra_args)


def publish(run_submission: Path, dest: Path) -> bool:
    """Copy a valid run submission over `dest` atomically; False if there is none yet or it is invalid."""
    try:
        read_submission(run_submission)
    except (FileNotFoundError, ValueError):
        return False
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(run_submission, tmp)
    os.replace(tmp, dest)
    return True


def kaggle_run(input_root: str | Path = "/kaggle/input", work_dir: str | Path = "/kaggle/working",
               run_dir: str | Path = "/kaggle/tmp/arc-run", preset: str = "paper-1b", model: str = "",
               induction_model: str = "", time_budget: str = "", extra_args: Sequence[str] = (),
               poll_s: float = 30.0, log: Callable[[str], None] = print) -> int:
    """Run the solver on the competition's challenges and keep WORK_DIR/submission.json valid; returns
    the run's exit code (the published file is complete whatever it is)."""
    challenges = find_challenges(input_root)
    dataset = load_dataset(str(challenges))
    dest = Path(work_dir) / "submission.json"
    write_submission(dest, {}, dataset)
    log(f"{len(dataset)} tasks in {challenges}; placeholder submission at {dest}")
    run_dir = Path(run_dir)
    argv = run_argv(challenges, run_dir, preset, model, induction_model, time_budget, extra_args)
    log("running: " + " ".join(argv))
    source = run_dir / "submission.json"
    last = None
    with subprocess.Popen(argv) as proc:
        while True:
            try:
                proc.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                stamp = source.stat().st_mtime_ns if source.exists() else None
                if stamp is not None and stamp != last and publish(source, dest):
                    last = stamp
    published = publish(source, dest)
    log(f"run exited with code {proc.returncode}; " + (f"its submission is published at {dest}" if published
                                                       else f"it wrote no valid submission: {dest} keeps placeholders"))
    return proc.returncode
