#!/usr/bin/env python3
"""Writes the hand-made seeds of the manifest, settings, addr, auth, codec and
files fuzzers into corpus-<target>/ (the image seeds come from gen_image_seeds.c,
the frame seeds from gen_corpus.py). Valid inputs and near-valid ones, one
field wrong. Re-run after changing seeds; inputs found by fuzzing are added
beside these by hand (crash-<what>), never by this script.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def image(i, **kw):
    d = dict(file="0.%d.img" % i, step=0, rank=i, node="cn%d" % (i % 2 + 1),
             size=4096 + i, xxh64="%016x" % (0x0123456789abcdef + i))
    d.update(kw)
    return d


def manifest(**kw):
    d = {"format": 1, "job": "1234", "gen": 3, "trigger": "interval",
         "start_ms": 1700000000000, "end_ms": 1700000004200, "duration_ms": 4200,
         "images": [image(0), image(1)]}
    d.update(kw)
    return d


MANIFEST = {
    "two-images": js(manifest()),
    "no-image": js(manifest(images=[])),
    "pretty": json.dumps(manifest(), indent=2).encode() + b"\n",
    "many-images": js(manifest(images=[image(i) for i in range(40)])),
    "near-format-2": js(manifest(format=2)),
    "near-dup-rank": js(manifest(images=[image(0), image(0, file="x.img")])),
    "near-dotdot": js(manifest(images=[image(0, file="..")])),
    "near-slash": js(manifest(images=[image(0, file="a/b")])),
    "near-end-before-start": js(manifest(end_ms=1)),
    "near-gen-0": js(manifest(gen=0)),
    "near-bad-hex": js(manifest(images=[image(0, xxh64="xyz")])),
    "near-trailing": js(manifest()) + b" {}",
    "near-truncated": js(manifest())[:-7],
    "near-not-object": b"[1,2,3]",
    "near-bad-utf8": js(manifest(job="\u00e9")).replace(b"\\u00e9", b"\xc3\x28"),
}

SETTINGS = {
    "all-site-args": b"\n".join([
        b"dir=/scratch/%u/ckpt/%j", b"keep=3", b"compress=3", b"margin=10:00",
        b"ports=20000-20100", b"max_image_size=64G", b"allow_users=alice,bob",
        b"allow_partitions=batch,long"]),
    "job-options": b"\n".join([
        b"checkpoint=auto", b"checkpoint-interval=1:00:00", b"checkpoint-dir=%h/ckpt/%j",
        b"checkpoint-keep=2", b"checkpoint=off"]),
    "patterns": b"dir=%h/%u/%j/%%\ndir=/a/%x\ndir=relative/%j",
    "near-ports": b"ports=30000-20000\nports=-\nports=1023-2000\nports=99999999-1",
    "near-sizes": b"max_image_size=18446744073709551616\nmax_image_size=1Q\nkeep=-1\ncompress=99",
    "near-lists": b"allow_users=" + b",".join(b"u%d" % i for i in range(80)),
    "near-margin": b"margin=99999999:00:00\nmargin=1-\nmargin=",
    "near-unknown": b"unknown=1\nnoequals\n=\ndir=",
}


def addr(**kw):
    d = {"job": 1234, "host": "cn1", "port": 20001, "dir": "/scratch/alice/ckpt/1234",
         "pid": 4242}
    d.update(kw)
    return d


ADDR = {
    "valid": js(addr()),
    "pretty": json.dumps(addr(), indent=1).encode(),
    "near-port-0": js(addr(port=0)),
    "near-port-big": js(addr(port=65536)),
    "near-job-0": js(addr(job=0)),
    "near-job-big": js(addr(job=4294967296)),
    "near-host-long": js(addr(host="h" * 300)),
    "near-dir-long": js(addr(dir="/" + "d" * 5000)),
    "near-pid-str": js(addr(pid="4242")),
    "near-missing": js({"job": 1, "host": "cn1"}),
    "near-not-json": b"{\"job\":1,",
    "near-nul-in-host": js(addr(host="cn1\u0000evil")),
}

NONCE = "0123456789abcdef0123456789abcdef"
AUTH = {
    "coord-valid": ("slurm-ckpt-hello/1 coord:1234 " + NONCE).encode(),
    "agent-valid": ("slurm-ckpt-hello/1 agent:77:cn1 " + NONCE).encode(),
    "purpose-given": b"coord:99\x00slurm-ckpt-hello/1 coord:99 " + NONCE.encode(),
    "near-other-purpose": ("slurm-ckpt-hello/1 coord:12345 " + NONCE).encode(),
    "near-upper-hex": ("slurm-ckpt-hello/1 coord:1234 " + NONCE.upper()).encode(),
    "near-short-nonce": ("slurm-ckpt-hello/1 coord:1234 " + NONCE[:-1]).encode(),
    "near-tag": ("slurm-ckpt-hello/2 coord:1234 " + NONCE).encode(),
    "near-bad-purpose": b"co rd\x00slurm-ckpt-hello/1 co rd " + NONCE.encode(),
    "near-empty": b"",
}

CODEC = {
    "register-ok": b'{"v":1,"type":"register_ok","gen":0,"heartbeat_ms":10000}',
    "prepare": b'{"v":1,"type":"prepare","gen":3,"trigger":"time","final":true}',
    "write": b'{"v":1,"type":"write","gen":3,"path":"\\/scratch\\/a b\\/\\"q\\"\\\\x\\u00e9.img",'
             b'"level":3,"nthreads":2,"final":false}',
    "exit": b'{"v":1,"type":"exit","status":0,"hold":false,"gen":3,"size":123,'
            b'"duration_ms":50,"trigger":"signal"}',
    "spaces": b'{ "v" : 1 , "type" :\t"resume" }',
    "crash-u00-at-end": b'{"v":1,"type":"\\u004',
    "crash-u00-cut": b'{"v":1,"type":"\\u00',
    "near-u0000": b'{"v":1,"type":"a\\u0000b"}',
    "near-u00-sign": b'{"v":1,"type":"a\\u00-1"}',
    "near-bad-escape": b'{"v":1,"type":"a\\nb"}',
    "near-unterminated": b'{"v":1,"type":"abc',
    "near-int-overflow": b'{"v":99999999999999999999,"gen":-9223372036854775809}',
    "near-long-type": b'{"v":1,"type":"' + b"t" * 100 + b'"}',
}

def files_entry(fd, kind, path, mode, acc=0, dup_of=-1, same_as=-1, pipe_size=0, ino=0,
                data=b"", file_size=0):
    """One entry of a files record (docs/files-and-state.md, "Record layout")."""
    path = path.encode() + b"\0"
    size = (88 + len(path) + len(data) + 7) & ~7
    head = struct.pack("<IiIIIiiIIIqQQQQQ", size, fd, kind, acc, 0, dup_of, same_as, mode,
                       len(path), pipe_size, 0, ino, 0, 0, file_size, len(data))
    return (head + path + data).ljust(size, b"\0")


def files_record(entries):
    return struct.pack("<IIII", 0x31444643, 1, len(entries), 0) + b"".join(entries)


def epoll_data(items, depth=0, count=None):
    """EPOLL entry data: header and (tfd, events, data) items."""
    body = b"".join(struct.pack("<iIQ", t, e, d) for t, e, d in items)
    return struct.pack("<II", len(items) if count is None else count, depth) + body


def files_epolls(inner=None, outer=None, inner_depth=0, outer_depth=1, inner_count=None):
    """Two pipes watched by an inner epoll (fd 5), itself watched by an
    outer one (fd 6); fd 7 is a dup of the inner one."""
    fifo, anon = 0o10600, 0o600
    inner = inner if inner is not None else [(3, 0x19, 1), (4, 0x1c, 0xfeedface12345678)]
    outer = outer if outer is not None else [(5, 0x80000019, 9)]
    return files_record([
        files_entry(3, 6, "pipe:[100]", fifo, pipe_size=65536, ino=100),
        files_entry(4, 6, "pipe:[100]", fifo, acc=1, same_as=3, pipe_size=65536, ino=100),
        files_entry(5, 13, "anon_inode:[eventpoll]", anon, ino=7,
                    data=epoll_data(inner, inner_depth, inner_count)),
        files_entry(6, 13, "anon_inode:[eventpoll]", anon, ino=7,
                    data=epoll_data(outer, outer_depth)),
        files_entry(7, 13, "anon_inode:[eventpoll]", anon, dup_of=5, ino=7),
    ])


def evfd_state(flags=0, clockid=0, count=0, sigmask=0, value=0, interval=0, at=0, length=56):
    """eventfd/timerfd/signalfd entry data (struct ckpt_evfd_state)."""
    return struct.pack("<IiQQqqqQ", flags, clockid, count, sigmask, value, interval, at,
                       0)[:length]


def files_evfds(evfd=None, periodic=None, wall=None, sigfd=None, evfd_flags=0o4002):
    """An eventfd (fd 3, dup'd at 7), a periodic monotonic timer (4), an
    absolute wall-clock timer (5) and a signalfd (6)."""
    anon = 0o600
    return files_record([
        files_entry(3, 10, "anon_inode:[eventfd]", anon, acc=evfd_flags, ino=9,
                    data=evfd if evfd is not None else evfd_state(count=1 << 40)),
        files_entry(4, 11, "anon_inode:[timerfd]", anon, acc=2, ino=9,
                    data=periodic if periodic is not None else
                    evfd_state(clockid=1, count=2, value=500000000, interval=1000000000)),
        files_entry(5, 11, "anon_inode:[timerfd]", anon, acc=0o4002, ino=9,
                    data=wall if wall is not None else
                    evfd_state(flags=3, clockid=0, value=10**9, at=1900000000 * 10**9)),
        files_entry(6, 12, "anon_inode:[signalfd]", anon, acc=2, ino=9,
                    data=sigfd if sigfd is not None else evfd_state(sigmask=0x200)),
        files_entry(7, 10, "anon_inode:[eventfd]", anon, acc=evfd_flags, dup_of=3, ino=9),
    ])


def inotify_data(watches, count=None, reserved=0):
    """INOTIFY entry data: header, (wd, mask, ino, sdev, path_len) items,
    then the paths one after the other."""
    paths = [w[2].encode() + b"\0" if isinstance(w[2], str) else w[2] for w in watches]
    items = b"".join(struct.pack("<iIQII", wd, mask, 0x1000 + wd, 0xfe00000, len(pb))
                     for (wd, mask, _), pb in zip(watches, paths))
    return struct.pack("<II", len(watches) if count is None else count, reserved) + \
        items + b"".join(paths)


def files_inotify(watches=None, acc=0, count=None, reserved=0, dup_kind=14):
    """An inotify (fd 3) with watches and its dup (fd 4)."""
    anon = 0o600
    watches = watches if watches is not None else [
        (1, 0x3c0, "/tmp/work"), (3, 0x02000006, "/tmp/work/f"), (4, 0x80000100, "/tmp")]
    return files_record([
        files_entry(3, 14, "anon_inode:inotify", anon, acc=acc, ino=9,
                    data=inotify_data(watches, count, reserved)),
        files_entry(4, dup_kind, "anon_inode:inotify", anon, dup_of=3, ino=9),
    ])


def memfd_data(seals=0, maps=((0x7f0000000000, 0x2000, 0x1000, 3),), contents=b"abc" * 2000,
               nmaps=None, reserved=0):
    """memfd entry data (struct ckpt_memfd_hdr, ckpt_memfd_map[], contents)."""
    head = struct.pack("<IIQ", seals, len(maps) if nmaps is None else nmaps, reserved)
    body = b"".join(struct.pack("<QQQII", a, n, o, prot, 0) for a, n, o, prot in maps)
    return head + body + contents


def files_memfd(data=None, size=6000, path="/memfd:x", acc=2, dup_kind=15):
    """A memfd (fd 3) and its dup (fd 4)."""
    reg = 0o100777
    return files_record([
        files_entry(3, 15, path, reg, acc=acc, ino=9, file_size=size,
                    data=memfd_data() if data is None else data),
        files_entry(4, dup_kind, path, reg, acc=acc, dup_of=3, ino=9),
    ])


FILES = {
    "memfd-mapped": files_memfd(),
    "memfd-sealed-read-only": files_memfd(data=memfd_data(
        seals=0xf, maps=((0x7f0000000000, 0x1000, 0, 1), (0x7f0000010000, 0x1000, 0, 5)))),
    "memfd-empty": files_memfd(data=memfd_data(maps=(), contents=b""), size=0),
    "near-memfd-size": files_memfd(size=6001),
    "near-memfd-seals": files_memfd(data=memfd_data(seals=0x40)),
    "near-memfd-nmaps": files_memfd(data=memfd_data(nmaps=65)),
    "near-memfd-reserved": files_memfd(data=memfd_data(reserved=1)),
    "near-memfd-unaligned": files_memfd(data=memfd_data(maps=((0x7f0000000800, 0x1000, 0, 3),))),
    "near-memfd-kernel-address": files_memfd(data=memfd_data(maps=((1 << 47, 0x1000, 0, 3),))),
    "near-memfd-write-sealed": files_memfd(data=memfd_data(seals=8)),
    "near-memfd-path": files_memfd(path="/tmp/x"),
    "near-memfd-dup-kind": files_memfd(dup_kind=3),
    "evfd-all": files_evfds(),
    "evfd-semaphore": files_evfds(evfd=evfd_state(flags=1, count=3)),
    "near-evfd-short": files_evfds(evfd=evfd_state(count=1, length=55)),
    "near-evfd-append": files_evfds(evfd_flags=0o2002),
    "near-evfd-oneshot-count": files_evfds(periodic=evfd_state(clockid=1, count=2, value=5)),
    "near-evfd-cancel-relative": files_evfds(periodic=evfd_state(flags=2, clockid=1, value=5)),
    "near-evfd-abs-on-relative": files_evfds(periodic=evfd_state(clockid=1, value=5, at=99)),
    "near-evfd-clock": files_evfds(periodic=evfd_state(clockid=11, value=5)),
    "near-evfd-negative": files_evfds(wall=evfd_state(flags=1, clockid=0, value=-1, at=5)),
    "near-evfd-sigmask-on-eventfd": files_evfds(evfd=evfd_state(count=1, sigmask=1)),
    "inotify-watches": files_inotify(),
    "inotify-empty": files_inotify(watches=[]),
    "near-inotify-order": files_inotify(watches=[(3, 2, "/a"), (2, 2, "/b")]),
    "near-inotify-wd0": files_inotify(watches=[(0, 2, "/a")]),
    "near-inotify-no-event": files_inotify(watches=[(1, 0x01000000, "/a")]),
    "near-inotify-mask-add": files_inotify(watches=[(1, 0x20000002, "/a")]),
    "near-inotify-relative": files_inotify(watches=[(1, 2, "a/b")]),
    "near-inotify-nul-inside": files_inotify(watches=[(1, 2, b"/a\0b\0")]),
    "near-inotify-count": files_inotify(count=4),
    "near-inotify-reserved": files_inotify(reserved=1),
    "near-inotify-gap": files_inotify(watches=[(1 + (1 << 18) + 1, 2, "/a")]),
    "near-inotify-open-flags": files_inotify(acc=2),
    "near-inotify-dup-kind": files_inotify(dup_kind=13),
    # A widowed pipe (docs/files-and-state.md): read ends only, bytes on
    # the first; a second description and a dup of the first.
    "pipe-widowed": files_record([
        files_entry(3, 6, "pipe:[200]", 0o10600, pipe_size=65536, ino=200, data=b"tail"),
        files_entry(4, 6, "pipe:[200]", 0o10600, same_as=3, pipe_size=65536, ino=200),
        files_entry(5, 6, "pipe:[200]", 0o10600, dup_of=3, pipe_size=65536, ino=200),
    ]),
    "near-pipe-widowed-writer": files_record([
        files_entry(3, 6, "pipe:[200]", 0o10600, acc=1, pipe_size=65536, ino=200),
    ]),
    "epoll-nested": files_epolls(),
    "epoll-fired-oneshot": files_epolls(inner=[(3, 0x40000000, 1)]),
    "epoll-empty": files_epolls(inner=[], outer=[]),
    "near-epoll-depth": files_epolls(outer_depth=0),
    "near-epoll-missing-target": files_epolls(inner=[(3, 0x19, 1), (9, 0x19, 2)]),
    "near-epoll-self": files_epolls(outer=[(6, 0x19, 1)]),
    "near-epoll-order": files_epolls(inner=[(4, 0x19, 1), (3, 0x19, 2)]),
    "near-epoll-nval": files_epolls(inner=[(3, 0x20, 1)]),
    "near-epoll-count": files_epolls(inner_count=3),
    "near-epoll-exclusive-oneshot": files_epolls(inner=[(3, 0x50000001, 1)]),
}

for target, seeds in (("manifest", MANIFEST), ("settings", SETTINGS), ("addr", ADDR),
                      ("auth", AUTH), ("codec", CODEC), ("files", FILES)):
    out = os.path.join(HERE, "corpus-" + target)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
