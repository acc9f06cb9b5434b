"""sandbox: run untrusted, model-written ARC programs (`transform(grid)`) fast and safely.

Threat model. A program is hostile Python written by a language model (or by someone steering
it). The orchestrator that calls `Sandbox.run` is trusted: it holds API keys and knows test
outputs. Goal: a program can only (a) burn bounded CPU/memory/time and (b) choose its own output
grids. It must not change or read anything on the host, reach the network, see secrets or
answer files, harm the orchestrator or the zygote, or influence another program's result.

Covered, layer by layer (outer to inner; see SANDBOX_DESIGN.md for the measurements):
  1. exec'd zygote with a fixed clean environment: no secrets in its env, argv or memory; test
     outputs never enter it (only sources and input grids); jobs are fed just in time.
  2. bubblewrap around the zygote when it works here: only /usr, the interpreter, the venv and
     this package mounted read-only; fresh pid/net/ipc/uts/cgroup namespaces; caps cut to
     SETUID/SETGID/KILL; --die-with-parent. Skipped (and said so) where namespaces are blocked.
  3. one forked child per program: stdio -> /dev/null, other fds closed, setsid, rlimits with
     soft == hard (AS, CPU, FSIZE=0, NOFILE, NPROC=0, CORE=0, MEMLOCK=0), uid/gid 65534,
     PDEATHSIG, NO_NEW_PRIVS, Landlock (read-only beneath the interpreter dirs; TCP denied;
     signals and abstract sockets scoped), seccomp allow-list (no fork/exec/socket/kill/ptrace/
     memfd/unlink/chmod/setrlimit/prctl; write-open denied; foreign syscall ABIs killed).
     Any setup failure exits before the program runs (SETUP_FAILURE).
  4. wall deadline per program with SIGKILL in the zygote; RLIMIT_CPU backstop; an orchestrator
     watchdog replaces a zygote that stalls or dies (in-flight programs are retried once).
  5. results are bytes in a tiny format (sandbox/inside/wire.py) parsed strictly by the zygote
     and again by the orchestrator; outputs only as exact 2-D list/tuple or int ndarray
     <= 30x30 of 0..9; no pickle, no eval, never `__eq__` of a child's object.
  6. random and np.random are seeded per program from (config seed, source): runs reproduce.

Not covered (residual risk): kernel bugs reachable through the allowed syscalls (the
Firecracker VM is the outer boundary); a program reading other *queued sources* from the
zygote's copy-on-write memory (harmless for ARC; at most 2*workers+2 are queued); programs
hard-coding train outputs they saw in the prompt (a scoring matter); timing side channels;
resource exhaustion within the limits. Fast mode (`mode="fast"`) reuses workers, so a program
CAN poison the next one in the same worker (e.g. swapping `__code__`); it is a pre-filter only:
every result it would accept is re-run in fork mode before it counts.

Imports: the unprivileged child cannot read files, so only modules pre-imported by the zygote
(`SandboxConfig.modules` + the prelude as `common`) can be imported; anything else is a clear
ModuleNotFoundError per program, the same with and without bubblewrap.
"""
from .config import DEFAULT_MODULE_TIERS, DEFAULT_MODULES, SandboxConfig
from .info import LayerStatus, sandbox_info
from .results import ExecStatus, GridResult, ProgramJob, ProgramResult
from .runner import Sandbox, SandboxError, run_programs

__all__ = ["DEFAULT_MODULE_TIERS", "DEFAULT_MODULES", "ExecStatus", "GridResult", "LayerStatus", "ProgramJob", "ProgramResult",
           "Sandbox", "SandboxConfig", "SandboxError", "run_programs", "sandbox_info"]
