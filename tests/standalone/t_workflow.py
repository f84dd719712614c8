"""t_workflow.py - a SPAdes-like workflow for checkpoint -> kill -> restart
cycles (issue 11, item 4): a Python driver runs a C++/OpenMP program
(t_stage, path in argv[1]) stage by stage through subprocess, passing data
in files, creating and deleting temporary files; between stages it checks
the stage's output against the same transform computed in Python and
deletes the stage's input. Stages print a line per chunk, the driver a line
between stages, so checkpoints fall both in the middle of a stage and
between stages. Any line starting with FAIL fails the test."""
import os
import subprocess
import sys
import time

STAGES = 5
COUNT = 4000
MASK = (1 << 64) - 1


def transform(x, stage):
    for _ in range(2000):
        x = (x * 6364136223846793005 + 1442695040888963407 + stage) & MASK
    return x >> 1


def end_gate():
    gate = os.environ.get("CKPT_TEST_END_GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.005)


def say(line):
    print(line, flush=True)


def main():
    stage_prog = sys.argv[1]
    gate = os.environ.get("CKPT_TEST_END_GATE")
    work = (gate + ".wf") if gate else "t_workflow.d"
    os.makedirs(work, exist_ok=True)
    data = [(i * 2654435761) & MASK for i in range(COUNT)]
    path = os.path.join(work, "stage0")
    with open(path, "w") as f:
        f.write("".join(f"{v}\n" for v in data))
    for stage in range(1, STAGES + 1):
        out = os.path.join(work, f"stage{stage}")
        subprocess.run([stage_prog, str(stage), path, out], check=True)
        want = [transform(v, stage) for v in data[:50]]
        with open(out) as f:
            got = [int(line) for line in f]
        if len(got) != COUNT or got[:50] != want:
            say(f"FAIL stage {stage}: {len(got)} numbers, first {got[:2]} want {want[:2]}")
            sys.exit(1)
        left = [n for n in os.listdir(work) if ".tmp." in n]
        if left:
            say(f"FAIL stage {stage}: temporary files left: {left}")
            sys.exit(1)
        os.unlink(path)
        data, path = got, out
        if stage == STAGES:
            end_gate()
        say(f"driver: stage {stage} verified, sum {sum(got) & MASK}")
        time.sleep(0.05)
    os.unlink(path)
    os.rmdir(work)


main()
