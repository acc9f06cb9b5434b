"""The result format: encoders round-trip, and every malformed stream is rejected (table-driven)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.inside import wire
from sandbox.inside.program import BadOutput, encode_output

A = bytes([wire.ARMED])
G11 = wire.grid_record(1, 1, b"\x07")


def test_round_trip_of_every_record_kind():
    payload = A + G11 + wire.exc_record("ZeroDivisionError", "division by zero") + wire.badout_record("got str")
    armed, recs = wire.parse_program(payload, 3)
    assert armed and recs == [(wire.GRID, ((7,),)), (wire.EXC, "ZeroDivisionError", "division by zero"),
                              (wire.BADOUT, "got str")]
    armed, recs = wire.parse_program(A + wire.progerr_record(wire.PROGERR_COMPILE, "SyntaxError", "x (line 1)"), 4)
    assert recs == [(wire.PROGERR, wire.PROGERR_COMPILE, "SyntaxError", "x (line 1)")]
    assert wire.parse_program(b"", 2) == (False, [])


def test_encoders_sanitise_hostile_text():
    rec = wire.exc_record("Bad\x00Name: with spaces", "caf\u00e9\x1b[2J" + "x" * 10_000)
    (kind, cls, msg), _ = wire.next_record(rec, 0)
    assert cls == "UnnamedException" and msg.startswith("caf\\xe9?[2J") and len(msg) == wire.MAX_TEXT


@pytest.mark.parametrize("payload, n", [
    (G11, 1),                                           # no ARMED first
    (A + A + G11, 1),                                   # ARMED twice
    (A + G11 + G11, 1),                                 # more records than grids
    (A + bytes([wire.GRID, 0, 1]), 1),                  # zero height
    (A + bytes([wire.GRID, 31, 1]) + b"\0" * 31, 1),    # too tall
    (A + bytes([wire.GRID, 1, 2, 3, 10]), 1),           # cell value 10
    (A + bytes([wire.GRID, 2, 2, 1]), 1),               # truncated cells
    (A + bytes([0x7F]), 1),                             # unknown tag
    (A + bytes([wire.EXC, 3]) + b"1ab" + b"\0\0", 1),  # class not an identifier
    (A + bytes([wire.EXC, 1]) + b"E" + b"\0\x02" + b"\x07\x08", 1),  # control bytes in message
    (A + bytes([wire.BADOUT]) + (5000).to_bytes(2, "big") + b"x" * 5000, 1),  # over-long text
    (A + wire.progerr_record(0, "SyntaxError", "x") + G11, 1),  # program error plus grids
    (A + bytes([wire.PROGERR, 9, 1]) + b"E\0\0", 1),    # unknown program-error kind
    (A + wire.end_record(5, False, 7), 1),                 # END outside fast mode
    (A + G11 * 5000, 1),                                # over the byte cap
])
def test_malformed_streams_are_rejected(payload, n):
    with pytest.raises(wire.WireError):
        wire.parse_program(payload, n)


@pytest.mark.parametrize("value, ok", [
    ([[0, 9]], True), (((1,),), True), ([[True]], False), ([[1.0]], False), ([[0]] * 30, True),
    ([[0] * 31], False), ("[[1]]", False), ([[1], [2, 3]], False), ([[-1]], False),
])
def test_in_child_output_check(value, ok):
    if ok:
        rec, _ = wire.next_record(encode_output(value), 0)
        assert rec[0] == wire.GRID
    else:
        with pytest.raises(BadOutput):
            encode_output(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 5))
def test_random_bytes_parse_or_raise_wire_error(payload, n):
    # Whatever a child writes, the parser either returns checked records or raises WireError.
    try:
        armed, records = wire.parse_program(bytes([wire.ARMED]) + payload, n)
    except wire.WireError:
        return
    assert armed and len(records) <= max(n, 1)
    for rec in records:
        if rec[0] == wire.GRID:
            assert 1 <= len(rec[1]) <= 30 and all(0 <= v <= 9 for row in rec[1] for v in row)
