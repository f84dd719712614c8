#!/usr/bin/env python3
"""Writes the hand-made seed corpus of the frame fuzzer into corpus/.

Each file: one byte choosing the chunk size the stream is fed in, then a
stream of frames (4-byte big-endian length + payload). Re-run after changing
seeds; inputs found by fuzzing are added beside these by hand, never by this
script.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def frame(payload):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


def msg(type_, **fields):
    return json.dumps(dict(v=1, type=type_, **fields), separators=(",", ":"))


IMG = dict(file="0.0.img", step=0, rank=0, node="cn1", size=10, xxh64="00000000000000ff")

SEEDS = {
    "register": frame(msg("register", role="task", pid=1234, rank=0, step=0,
                          job="77", node="cn1")),
    "register_ok": frame(msg("register_ok", gen=0, heartbeat_ms=10000)),
    "heartbeat": frame(msg("heartbeat", seq=1)),
    "checkpoint": frame(msg("checkpoint", job="77", trigger="manual", final=False,
                            wait=True)),
    "prepare": frame(msg("prepare", gen=3, trigger="time", final=True)),
    "ready": frame(msg("ready", gen=3, rank=1, step=0, sums=[1, 2, 3])),
    "write": frame(msg("write", gen=3, dir="/scratch/ckpt/77/gen-3.tmp")),
    "written": frame(msg("written", gen=3, file="0.1.img", size=123, xxh64="0123456789abcdef",
                         node="cn2", rank=1, step=0, duration_ms=50)),
    "commit": frame(msg("commit", gen=3)),
    "committed": frame(msg("committed", gen=3, node="cn1", duration_ms=4200)),
    "abort": frame(msg("abort", gen=3, code=9, message="rank 5 did not answer")),
    "resume": frame(msg("resume", gen=3, committed=True)),
    "exit": frame(msg("exit", gen=3, code=0)),
    "status": frame(msg("status", job="77")),
    "status_reply": frame(msg("status_reply", state="idle", gen=2, tasks=4,
                              interval="1h", trigger="96:00:00")),
    "error": frame(msg("error", code=7, message="busy", re="checkpoint")),
    "error_unknown_code": frame(msg("error", code=4242)),
    "drain_sum": frame(msg("drain_sum", gen=3, round=1, sums=[1, -2, 9223372036854775807],
                           max=[0])),
    "manifest_like": frame(msg("x", format=1, job="7", gen=2, trigger="time", start_ms=1,
                               end_ms=2, duration_ms=1, images=[IMG, dict(IMG, file="a/b")])),
    "two_frames": frame(msg("ready", gen=1)) + frame(msg("written", gen=1)),
    "unknown_fields": frame(msg("prepare", gen=1, future={"a": [1, {"b": None}]})),
    "unicode": frame(msg("error", code=1, message="naïve ✓ 𝄞", node="cn\u00e9")),
    "truncated_header": frame(msg("heartbeat"))[:2],
    "truncated_payload": frame(msg("heartbeat"))[:-3],
    "oversize_prefix": b"\x01\x00\x00\x00" + b"{}",
    "max_prefix": b"\xff\xff\xff\xff",
    "exact_limit_prefix": b"\x00\x10\x00\x00" + b"{",
    "empty_payload": b"\x00\x00\x00\x00",
    "not_json": frame("{nope"),
    "trailing_junk": frame(msg("heartbeat") + " x"),
    "two_values": frame(msg("heartbeat") + msg("heartbeat")),
    "array": frame("[1,2,3]"),
    "string": frame('"type"'),
    "no_v": frame('{"type":"heartbeat"}'),
    "v_string": frame('{"v":"1","type":"heartbeat"}'),
    "v_float": frame('{"v":1.0,"type":"heartbeat"}'),
    "v_huge": frame('{"v":18446744073709551617,"type":"heartbeat"}'),
    "v2": frame('{"v":2,"type":"heartbeat"}'),
    "type_int": frame('{"v":1,"type":5}'),
    "type_empty": frame('{"v":1,"type":""}'),
    "type_nul": frame('{"v":1,"type":"a\\u0000b"}'),
    "type_long": frame('{"v":1,"type":"' + "t" * 40 + '"}'),
    "bad_utf8": frame(b'{"v":1,"type":"\xff\xfe"}'),
    "raw_nul": frame(b'{"v":1,\x00"type":"x"}'),
    "deep_nesting": frame('{"v":1,"type":"x","a":' + "[" * 5000 + "]" * 5000 + "}"),
    "wrong_types": frame(msg("prepare", gen="3", final=1, sums=[1, "2"], node=5,
                             code=-1)),
    "int_overflow": frame('{"v":1,"type":"prepare","gen":99999999999999999999999,'
                          '"rank":-99999999999999999999}'),
    "nan": frame('{"v":1,"type":"prepare","gen":NaN}'),
    "escapes": frame(msg("write", dir="/a\\b\"c/\t\n\u0001")),
    "time_strings": frame(msg("status", trigger="1-23:59:59", message="1h30m",
                              node="99999999999999999999:00")),
    "dup_keys": frame('{"v":1,"type":"a","type":"b","v":1}'),
    "whitespace": frame(' \t\r\n{"v":1,"type":"x"}\n '),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, (name, data) in enumerate(sorted(SEEDS.items())):
        # Vary the chunk selector so seeds cover several split patterns.
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([(i * 7) % 64]) + data)


if __name__ == "__main__":
    main()
