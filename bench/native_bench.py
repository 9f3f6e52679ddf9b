#!/usr/bin/python3
"""Benchmark pyfault-attach --native on a 20-thread CPython target.

What it measures (wall time and CPU time, output to /dev/null, medians of
N runs; the minimum wall time too):
  * `pyfault-attach PID`: Python frames only, the baseline;
  * `pyfault-attach --native PID`: plus every thread's C stack, unwound with
    libunwind and symbolized with libdwfl;
  * `pyfault-attach --native=merged PID`: plus source lines of the C frames
    it shows, which reads DWARF (libc's, when libc6-dbg is installed, is
    compressed: most of the extra time is zlib);
  * `gdb -batch -p PID -ex "thread apply all bt"`: gdb's C stacks of every
    thread, the like-for-like tool.
--offsets=SOURCE is passed on to every pyfault run: with `table`, no DWARF
is parsed for the structure offsets, which for a Debian python3 whose DWARF
comes from python3.X-dbg dominates a plain attach (the dump itself is a few
milliseconds).  With -v, pyfault's own split of the time the target was stopped (the part
spent on C stacks) is reported too.  Ratios are to the --native median.
The target: 19 threads, each a few Python frames deep, blocked in C on a
lock; the main thread waits on stdin.  One --native dump is checked to have
20 C stacks that reach libc.

Run:  bench/native_bench.py [--python /usr/bin/python3] [--runs 30]
                            [--gdb-runs 5] [--pyfault src/pyfault-attach]
                            [--offsets SOURCE]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

NTHREADS = 20
HERE = os.path.dirname(os.path.abspath(__file__))
GOAL_MS = 20.0

# Readiness only once every other task sleeps in the kernel, so that no
# thread is between "ready" and its blocking call.
TARGET = r"""
import _thread, os, sys, threading, time
N = int(sys.argv[1])
arrived = threading.Semaphore(0)
def park(n, lock):
    if n > 1:
        return park(n - 1, lock)
    arrived.release()
    lock.acquire()
for _ in range(N - 1):
    lock = _thread.allocate_lock(); lock.acquire()
    threading.Thread(target=park, args=(5, lock), daemon=True).start()
for _ in range(N - 1):
    arrived.acquire()
me = str(threading.get_native_id())
def asleep(tid):
    with open(f"/proc/self/task/{tid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"
while not all(asleep(t) for t in os.listdir("/proc/self/task") if t != me):
    time.sleep(0.001)
print("ready", sys.version.split()[0], flush=True)
sys.stdin.buffer.read()
"""


def start_target(python):
    proc = subprocess.Popen([python, "-c", TARGET, str(NTHREADS)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        raise SystemExit(f"target failed to start (exit {proc.poll()})")
    return proc, line[1]


def not_stopped(pid):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        assert state not in "tT", f"task {tid} left in state {state}"


def timed_devnull(cmd, pid, timeout=60):
    """(wall ms, CPU ms) of cmd with its output to /dev/null: a blocking
    wait4, so no polling granularity in the wall time, and the CPU time
    (user + system) it used, which other load on the machine hardly
    changes."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    guard = threading.Timer(timeout, child.kill)
    guard.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    finally:
        guard.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    ms = (time.perf_counter() - t0) * 1e3
    not_stopped(pid)
    if child.returncode != 0:
        raise RuntimeError(f"{cmd} exited {child.returncode}")
    return ms, (usage.ru_utime + usage.ru_stime) * 1e3


def check_native_dump(pyfault, offsets, pid):
    r = subprocess.run([pyfault, *offsets, "--native", str(pid)], capture_output=True,
                       text=True, timeout=60)
    sections = re.split(r"^(?:Current thread's C stack trace|C stack trace of "
                        r"thread 0x[0-9a-f]+) \(most recent call first\):\n",
                        r.stdout, flags=re.M)[1:]
    assert len(sections) == NTHREADS, f"{len(sections)} C stacks"
    for s in sections:
        assert "libc.so" in s, "a C stack without libc:\n" + s


def native_ms(pyfault, offsets, pid, runs):
    """pyfault's own 'ms for C stacks' with -v, median."""
    values = []
    for _ in range(runs):
        r = subprocess.run([pyfault, *offsets, "-v", "--native", str(pid)],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"([\d.]+) ms for C stacks", r.stderr)
        if m:
            values.append(float(m.group(1)))
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--gdb-runs", type=int, default=5)
    ap.add_argument("--offsets", help="passed on as --offsets=SOURCE")
    ap.add_argument("--pyfault",
                    default=os.path.join(HERE, "..", "src", "pyfault-attach"))
    args = ap.parse_args()
    pyfault = os.path.abspath(args.pyfault)
    if not os.access(pyfault, os.X_OK):
        raise SystemExit(f"{pyfault} not found: build it first (make)")
    offsets = [f"--offsets={args.offsets}"] if args.offsets else []

    proc, version = start_target(args.python)
    try:
        pid = proc.pid
        print(f"target: {args.python} (Python {version}), pid {pid}, "
              f"{NTHREADS} threads; offsets: {args.offsets or 'auto'}")
        check_native_dump(pyfault, offsets, pid)
        rows = []
        for label, cmd, runs in (
                ("pyfault-attach", [pyfault, *offsets, str(pid)], args.runs),
                ("pyfault-attach --native",
                 [pyfault, *offsets, "--native", str(pid)], args.runs),
                ("pyfault-attach --native=merged",
                 [pyfault, *offsets, "--native=merged", str(pid)],
                 args.runs)):
            times = [timed_devnull(cmd, pid) for _ in range(runs)]
            rows.append((label, times))
        if shutil.which("gdb"):
            cmd = ["gdb", "-nx", "-batch", "-p", str(pid), "-ex",
                   "thread apply all bt"]
            rows.append(("gdb thread apply all bt",
                         [timed_devnull(cmd, pid, 300)
                          for _ in range(args.gdb_runs)]))
        else:
            print("gdb: skipped (not found in PATH)")
        ref = statistics.median(w for w, _ in rows[1][1])
        print(f"{'command':34} {'runs':>4} {'median ms':>10} {'min ms':>8} "
              f"{'x --native':>10} {'CPU ms':>8}")
        for label, times in rows:
            wall = [w for w, _ in times]
            med = statistics.median(wall)
            cpu = statistics.median(c for _, c in times)
            print(f"{label:34} {len(times):4d} {med:10.2f} {min(wall):8.2f} "
                  f"{med / ref:10.2f} {cpu:8.2f}")
        stopped = native_ms(pyfault, offsets, pid, min(args.runs, 10))
        if stopped is not None:
            print(f"--native: {stopped:.2f} ms of the time the target was "
                  f"stopped went to C stacks ({stopped / NTHREADS:.2f} ms "
                  f"per thread)")
        load = os.getloadavg()[0]
        print(f"load average {load:.1f} on {os.cpu_count()} CPUs"
              + (": other work skews medians, minimums are closer to the "
                 "cost" if load > os.cpu_count() else ""))
        native_wall = [w for w, _ in rows[1][1]]
        native_cpu = statistics.median(c for _, c in rows[1][1])
        print(f"goal: --native <= {GOAL_MS:.0f} ms for {NTHREADS} threads: "
              f"median {ref:.2f} ms ({'met' if ref <= GOAL_MS else 'NOT met'}"
              f"), minimum {min(native_wall):.2f} ms, CPU {native_cpu:.2f} ms")
    finally:
        proc.kill()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
