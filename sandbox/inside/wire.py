"""The byte formats that cross the sandbox boundary, and their strict parsers. No pickle, no JSON
from children: a child can only send the records below, and every byte is checked twice (by the
zygote while it reads, and again by the orchestrator).

Child -> zygote records (integers big-endian):
  ARMED   0x10                                   confinement complete; untrusted code starts now
  GRID    0x00 h:u8 w:u8 cells[h*w] (each 0..9)  one output grid, 1 <= h, w <= 30
  EXC     0x01 n:u8 class[n] m:u16 message[m]    transform raised (class = dotted identifier)
  PROGERR 0x02 kind:u8 n:u8 class[n] m:u16 msg[m] program failed before any grid (kind below)
  BADOUT  0x03 m:u16 reason[m]                   transform returned something that is not a grid
  END     0x11 cpu_us:u32 retire:u8 nonce:u32    fast mode only: one program finished; nonce is
                                                 the job's (a mismatch retires the worker)
Text is printable ASCII (plus tab/newline); messages are capped at MAX_TEXT bytes.

Zygote -> orchestrator frames:
  PRELUDE b"P" n:u32 (n = 0)                     the zygote is confined and starts loading the
                                                 prelude (whose code it cannot vouch for)
  HELLO   b"H" n:u32 json[n]                     startup facts (the zygote runs no program code
                                                 itself; a prelude could forge them, so the
                                                 orchestrator treats them as facts to report)
  FATAL   b"F" n:u32 text[n]                     the zygote could not start; it then exits
  RESULT  b"R" seq:u32 outcome:u8 detail:i32 wall_us:u32 cpu_us:u32 reused:u16 n:u32 payload[n]
          payload = the child's records for one program (ARMED first), already validated;
          reused = programs its process ran before this one (fast mode; 0 = a fresh process).
Frames during start-up (P, F, H) are at most MAX_MESSAGE bytes.
Orchestrator -> zygote: n:u32 json[n] messages (trusted direction).
"""
from __future__ import annotations

import re
import struct

ARMED, GRID, EXC, PROGERR, BADOUT, END = 0x10, 0x00, 0x01, 0x02, 0x03, 0x11
PROGERR_COMPILE, PROGERR_DEFINE, PROGERR_NO_TRANSFORM = 0, 1, 2
MAX_SIDE = 30
END_SIZE = 10
MAX_TEXT = 600
MAX_CLASS = 100
# Largest legal record: a 30x30 grid (903 bytes) or an EXC with a full class and message.
MAX_RECORD = max(3 + MAX_SIDE * MAX_SIDE, 1 + 1 + MAX_CLASS + 2 + MAX_TEXT + 1)

OUTCOME_EXITED, OUTCOME_SIGNALED, OUTCOME_TIMEOUT, OUTCOME_PROTOCOL, OUTCOME_SPAWN_FAILED = range(5)
RESULT_HEADER = struct.Struct(">IBiIIHI")
MAX_MESSAGE = 1 << 20
_CLASS_RE = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]{0,99}\Z")
_TEXT_OK = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A}


# Bound once: a program that monkeypatches builtins must not corrupt its own result records.
_len, _bytes, _max, _min = len, bytes, max, min


class WireError(ValueError):
    """Bytes that do not follow the format above (a forged or corrupted stream)."""


def payload_cap(n_grids: int) -> int:
    """Most bytes a well-behaved child can send for a program run on `n_grids` grids."""
    return 1 + max(n_grids, 1) * MAX_RECORD + 16


def _text(buf: bytes, start: int, length: int, what: str) -> str:
    raw = buf[start:start + length]
    if length > MAX_TEXT or any(b not in _TEXT_OK for b in raw):
        raise WireError(f"{what}: not printable ASCII of at most {MAX_TEXT} bytes")
    return raw.decode("ascii")


def _class(buf: bytes, start: int, length: int) -> str:
    raw = buf[start:start + length]
    if not _CLASS_RE.match(raw):
        raise WireError(f"exception class {raw[:40]!r} is not a dotted identifier")
    return raw.decode("ascii")


def next_record(buf: bytes, pos: int, build: bool = True) -> tuple[tuple, int] | None:
    """Parse one record at `pos`: ((kind, *fields), new_pos), or None if more bytes are needed.

    Raises WireError on any malformed byte. Grid cells come back as a tuple of row tuples
    (`build=False`: validate only, rows are None - the zygote's cheaper first pass).
    """
    end = len(buf)
    if pos >= end:
        return None
    tag = buf[pos]
    if tag == ARMED:
        return (ARMED,), pos + 1
    if tag == GRID:
        if end < pos + 3:
            return None
        h, w = buf[pos + 1], buf[pos + 2]
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise WireError(f"grid record with shape {h}x{w} outside 1..30")
        stop = pos + 3 + h * w
        if end < stop:
            return None
        cells = buf[pos + 3:stop]
        if cells and max(cells) > 9:
            raise WireError("grid record with a cell value above 9")
        rows = tuple(tuple(cells[r * w:(r + 1) * w]) for r in range(h)) if build else None
        return (GRID, rows), stop
    if tag in (EXC, PROGERR):
        head = pos + 1 + (tag == PROGERR)
        if end < head + 1:
            return None
        kind = buf[pos + 1] if tag == PROGERR else None
        if kind is not None and kind > PROGERR_NO_TRANSFORM:
            raise WireError(f"unknown program-error kind {kind}")
        n = buf[head]
        if end < head + 1 + n + 2:
            return None
        cls = _class(buf, head + 1, n)
        m = int.from_bytes(buf[head + 1 + n:head + 3 + n], "big")
        stop = head + 3 + n + m
        if m > MAX_TEXT:
            raise WireError(f"message of {m} bytes exceeds {MAX_TEXT}")
        if end < stop:
            return None
        msg = _text(buf, head + 3 + n, m, "exception message")
        return ((EXC, cls, msg) if tag == EXC else (PROGERR, kind, cls, msg)), stop
    if tag == BADOUT:
        if end < pos + 3:
            return None
        m = int.from_bytes(buf[pos + 1:pos + 3], "big")
        if m > MAX_TEXT:
            raise WireError(f"reason of {m} bytes exceeds {MAX_TEXT}")
        if end < pos + 3 + m:
            return None
        return (BADOUT, _text(buf, pos + 3, m, "bad-output reason")), pos + 3 + m
    if tag == END:
        if end < pos + END_SIZE:
            return None
        cpu_us = int.from_bytes(buf[pos + 1:pos + 5], "big")
        retire = buf[pos + 5]
        if retire > 1:
            raise WireError("END record with a retire flag other than 0/1")
        return (END, cpu_us, retire, int.from_bytes(buf[pos + 6:pos + END_SIZE], "big")), pos + END_SIZE
    raise WireError(f"unknown record tag 0x{tag:02x}")


def parse_program(payload: bytes, n_grids: int) -> tuple[bool, list[tuple]]:
    """Strictly parse one program's payload: (armed, per-grid or program-error records).

    Valid: empty (the child died before it was confined), or ARMED followed by either one
    PROGERR or at most `n_grids` GRID/EXC/BADOUT records. Anything else raises WireError.
    """
    if len(payload) > payload_cap(n_grids):
        raise WireError(f"payload of {len(payload)} bytes exceeds the cap {payload_cap(n_grids)}")
    if not payload:
        return False, []
    pos, records = 0, []
    while pos < len(payload):
        got = next_record(payload, pos)
        if got is None:
            raise WireError(f"truncated record at byte {pos}")
        rec, pos = got
        records.append(rec)
    if records[0] != (ARMED,):
        raise WireError("stream does not start with ARMED")
    body = records[1:]
    if any(r[0] in (ARMED, END) for r in body):
        raise WireError("ARMED/END record inside a program's results")
    if any(r[0] == PROGERR for r in body) and len(body) != 1:
        raise WireError("a program error must be the only record")
    if len(body) > max(n_grids, 1) or (len(body) > n_grids and body[0][0] != PROGERR):
        raise WireError(f"{len(body)} records for {n_grids} grids")
    return True, body


def encode_text(value: str, limit: int = MAX_TEXT) -> bytes:
    """Printable-ASCII bytes for `value` (escapes non-ASCII, drops control chars), capped."""
    raw = value.encode("ascii", "backslashreplace")
    raw = _bytes(b if b in _TEXT_OK else 0x3F for b in raw)
    return raw[:limit]


def encode_class(name: str) -> bytes:
    raw = encode_text(name, MAX_CLASS)
    return raw if _CLASS_RE.match(raw) else b"UnnamedException"


def exc_record(cls: str, msg: str) -> bytes:
    c, m = encode_class(cls), encode_text(msg)
    return _bytes([EXC, _len(c)]) + c + _len(m).to_bytes(2, "big") + m


def progerr_record(kind: int, cls: str, msg: str) -> bytes:
    c, m = encode_class(cls), encode_text(msg)
    return _bytes([PROGERR, kind, _len(c)]) + c + _len(m).to_bytes(2, "big") + m


def badout_record(reason: str) -> bytes:
    m = encode_text(reason)
    return _bytes([BADOUT]) + _len(m).to_bytes(2, "big") + m


def grid_record(h: int, w: int, cells: bytes) -> bytes:
    assert 1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE and _len(cells) == h * w
    return _bytes([GRID, h, w]) + cells


def end_record(cpu_us: int, retire: bool, nonce: int) -> bytes:
    return (_bytes([END]) + _min(_max(cpu_us, 0), 2**32 - 1).to_bytes(4, "big") + _bytes([int(retire)])
            + nonce.to_bytes(4, "big"))


def result_frame(seq: int, outcome: int, detail: int, wall_us: int, cpu_us: int, payload: bytes,
                 reused: int = 0) -> bytes:
    clamp = lambda v: _min(_max(int(v), 0), 2**32 - 1)  # noqa: E731
    head = RESULT_HEADER.pack(seq, outcome, detail, clamp(wall_us), clamp(cpu_us), _min(reused, 0xFFFF),
                              _len(payload))
    return b"R" + head + payload


def message_frame(tag: bytes, body: bytes) -> bytes:
    body = body[:MAX_MESSAGE]
    return tag + _len(body).to_bytes(4, "big") + body
