#!/usr/bin/python3
"""Benchmark pyfault-attach --tasks against CPython's own remote task
reader, `python -m asyncio ps` and `pstree`, on 10,000 pending tasks.

What it measures, on one target, in the same run:
  * the wall time of `pyfault-attach --tasks PID` (output to /dev/null),
    and, from its -v line, how long the target was held (stopped) and how
    much of that the task walk took;
  * the same with --format json and with --tasks=tree;
  * the wall time of `PYTHON -m asyncio ps PID` and `pstree`, which read
    the same task lists without stopping the target (3.14+; before, there
    is no such reader to compare with, and the bench says so).
The target runs 10,000 tasks, each four coroutines deep (level0 -> level1
-> level2 -> level3 -> Event.wait), all pending on one Event that is never
set; it tells it is ready on a pipe and ends when its stdin closes.  One
dump is checked to hold every task with its five frames.

Run:  bench/tasks_bench.py --python PYTHON3.11+ [--runs 20] [--ps-runs 3]
                           [--tasks 10000] [--pyfault src/pyfault-attach]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GOAL = ("goal: 10,000 tasks dumped in <= 100 ms wall, the target held "
        "<= 50 ms")

TARGET = r"""
import asyncio, os, sys
N, FD = int(sys.argv[1]), int(sys.argv[2])
async def level3(ev): await ev.wait()
async def level2(ev): await level3(ev)
async def level1(ev): await level2(ev)
async def level0(ev): await level1(ev)
async def main():
    ev = asyncio.Event()
    tasks = [asyncio.create_task(level0(ev)) for _ in range(N)]
    for _ in range(10):
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    loop.add_reader(0, loop.stop)      # stdin closed: the bench is done
    loop.call_soon(os.write, FD, b"r")
    await ev.wait()
try:
    asyncio.run(main())
except RuntimeError:
    pass
"""

STOPPED = re.compile(rb"target stopped for ([0-9.]+) ms .* ([0-9.]+) ms for "
                     rb"(\d+) asyncio tasks")


def timed(cmd):
    t0 = time.monotonic()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=300)
    return (time.monotonic() - t0) * 1e3, out


def summary(values):
    return "median %8.1f ms  min %8.1f  max %8.1f" % (
        statistics.median(values), min(values), max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=os.environ.get("PYFAULT_BENCH_PYTHON",
                                                       "python3.14"))
    ap.add_argument("--pyfault", default=os.path.join(
        HERE, "..", "src", "pyfault-attach"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--ps-runs", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=10000)
    args = ap.parse_args()
    rfd, wfd = os.pipe()
    target = subprocess.Popen([args.python, "-c", TARGET, str(args.tasks),
                               str(wfd)], stdin=subprocess.PIPE,
                              pass_fds=(wfd,))
    os.close(wfd)
    try:
        if os.read(rfd, 1) != b"r":
            sys.exit("the target did not start")
        pid = str(target.pid)
        _, first = timed([args.pyfault, "--tasks", "--format", "json", pid])
        body = first.stdout
        if first.returncode != 0 or body.count(b'"name":"level3"') != \
                args.tasks:
            sys.exit("the dump does not hold %d tasks four deep: %r" % (
                args.tasks, first.stderr))
        print("target: %s, %d tasks four coroutines deep, pid %s" % (
            args.python, args.tasks, pid))
        print(GOAL)
        rows = {}
        for label, extra in (("--tasks", []), ("--tasks --format json",
                                               ["--format", "json"]),
                             ("--tasks=tree", None)):
            walls, held, walk = [], [], []
            for _ in range(args.runs):
                cmd = ([args.pyfault, "--tasks=tree", "-v", pid]
                       if extra is None else
                       [args.pyfault, "--tasks", "-v"] + extra + [pid])
                ms, out = timed(cmd)
                m = STOPPED.search(out.stderr)
                if out.returncode != 0 or not m:
                    sys.exit("%s failed: %r" % (label, out.stderr))
                walls.append(ms)
                held.append(float(m.group(1)))
                walk.append(float(m.group(2)))
            rows[label] = statistics.median(walls)
            print("pyfault-attach %-22s wall %s" % (label, summary(walls)))
            print("  %-36s held %s" % ("", summary(held)))
            print("  %-36s walk %s" % ("", summary(walk)))
        version = subprocess.run(
            [args.python, "-c", "import sys; print(sys.version_info[:2] >= "
             "(3, 14))"], stdout=subprocess.PIPE, check=True).stdout
        if version.strip() != b"True":
            print("python -m asyncio ps/pstree: not in this Python (3.14+),"
                  " nothing to compare with")
            return
        for tool in ("ps", "pstree"):
            walls = []
            for _ in range(args.ps_runs):
                ms, out = timed([args.python, "-m", "asyncio", tool, pid])
                if out.returncode != 0:
                    sys.exit("asyncio %s failed: %r" % (tool,
                                                        out.stderr[-500:]))
                walls.append(ms)
            rows["asyncio " + tool] = statistics.median(walls)
            print("python -m asyncio %-18s wall %s" % (tool, summary(walls)))
        base = rows["--tasks"]
        for label in ("asyncio ps", "asyncio pstree"):
            print("%s / pyfault-attach --tasks: %.1fx" % (
                label, rows[label] / base))
    finally:
        target.stdin.close()
        try:
            target.wait(timeout=30)
        except subprocess.TimeoutExpired:
            target.kill()
            target.wait()


if __name__ == "__main__":
    main()
