#!/usr/bin/python3
"""t_interp.py - a python3 program with threads passing work through a
queue, subprocesses with pipes (subprocess.run and Popen of sort), and
numpy when it is installed, for checkpoint -> kill -> restart cycles of
the whole tree (test tree-python, tree_cycles.sh). Every value follows from
the step number alone; anything unexpected prints a line starting with FAIL.

    python3 t_interp.py [STEPS]         the test
    python3 t_interp.py pool [STEPS]    the same steps through a
                                        multiprocessing.Pool (POSIX
                                        semaphores shared between processes)
"""
import os
import queue
import subprocess
import sys
import threading
import time

try:
    import numpy
except ImportError:
    numpy = None

bad = False


def fail(msg):
    global bad
    print("FAIL " + msg, flush=True)
    bad = True


def square_sum(n):
    return sum(k * k for k in range(n + 1))


def worker(inq, outq):
    """A thread: answers each number with the sum of squares up to it."""
    while True:
        n = inq.get()
        if n is None:
            return
        outq.put((n, square_sum(n)))


def end_gate():
    gate = os.environ.get("CKPT_TEST_END_GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.05)


def main(steps, pool_mode):
    inq, outq = queue.Queue(), queue.Queue()
    threads = [threading.Thread(target=worker, args=(inq, outq)) for _ in range(3)]
    for t in threads:
        t.start()
    pool = None
    if pool_mode:
        import multiprocessing
        pool = multiprocessing.Pool(2)
    for i in range(1, steps + 1):
        # Three threads share six numbers through the queues.
        nums = [i * 100 + k for k in range(6)]
        for n in nums:
            inq.put(n)
        got = dict(outq.get() for _ in nums)
        tsum = sum(got.values())
        if tsum != sum(square_sum(n) for n in nums):
            fail(f"step {i}: threads gave {tsum}")
        # sort through pipes: subprocess.run with input and output.
        words = [f"w{(i * 7 + k * 13) % 97:02d}" for k in range(20)]
        r = subprocess.run(["sort"], input="\n".join(words) + "\n",
                           capture_output=True, text=True, check=False)
        if r.returncode != 0 or r.stdout.split() != sorted(words):
            fail(f"step {i}: sort gave {r.returncode} {r.stdout.split()[:3]}")
        # Popen: a pipeline of two processes, its statuses.
        p1 = subprocess.Popen(["seq", str(i * 50)], stdout=subprocess.PIPE)
        p2 = subprocess.Popen(["sort", "-rn"], stdin=p1.stdout,
                              stdout=subprocess.PIPE, text=True)
        p1.stdout.close()
        first = p2.stdout.readline().strip()
        rest = p2.stdout.read()
        if p2.wait() != 0 or p1.wait() != 0 or first != str(i * 50) \
                or len(rest.split()) != i * 50 - 1:
            fail(f"step {i}: seq | sort -rn gave {first}")
        # A child that sleeps, exits with a status, waited by pid.
        c = subprocess.Popen(["sh", "-c", f"sleep 0.05; exit {i % 9}"])
        if c.wait() != i % 9:
            fail(f"step {i}: sh exited {c.returncode}")
        extra = "-"
        if numpy is not None:
            a = numpy.arange(i * 1000, dtype=numpy.float64).reshape(-1, 10)
            m = a @ a.T[:, :5]
            extra = f"{int(m.sum()) % 1000003}"
        if pool is not None:
            res = pool.map(square_sum, nums)
            if sum(res) != tsum:
                fail(f"step {i}: pool gave {sum(res)}")
            extra += f" pool={sum(res)}"
        if i == steps:
            end_gate()
        print(f"step {i} threads={tsum} sort={r.stdout.split()[0]} seq={first} np={extra}",
              flush=True)
    for _ in threads:
        inq.put(None)
    for t in threads:
        t.join()
    if pool is not None:
        pool.close()
        pool.join()
    print(f"end bad={int(bad)}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    pool_mode = bool(args) and args[0] == "pool"
    if pool_mode:
        args = args[1:]
    sys.exit(main(int(args[0]) if args else 40, pool_mode))
