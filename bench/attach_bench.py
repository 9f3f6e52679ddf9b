#!/usr/bin/python3
"""Benchmark pyfault-attach against gdb's py-bt on a 51-thread CPython target.

What it measures
  * Wall time of `pyfault-attach PID` (output to /dev/null), N runs.  The
    first run is reported alone as "cold": first attach to this target,
    binary and debug file maybe not yet in the page cache.  The other runs
    are "warm" only in the OS-cache sense: pyfault has no offset cache yet,
    so every run re-reads ELF symbols and re-parses DWARF for the offsets.
  * The same with `--offsets=table`: offsets known in advance, no DWARF
    parsing, i.e. the dump itself.
  * With `-v`, pyfault's own "target stopped for X ms" (stop all threads,
    walk, resume), its median and that median divided by the 51 threads.
  * `gdb -p PID -batch -ex "thread apply all py-bt"` (all threads, the
    like-for-like comparison) and plain `py-bt` (selected thread only),
    using the python3.X-gdb.py auto-load script of python3.X-dbg.
The target is a Python process with 50 threads, each 50 frames deep in a
recursive Python function and then blocked in C on a lock; the main thread
waits on stdin.  One pyfault dump is checked to show all of that.

Run:  bench/attach_bench.py [--python /usr/bin/python3.11] [--runs 30]
                            [--gdb-runs 5] [--pyfault src/pyfault-attach]
"""
import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

NTHREADS, DEPTH = 50, 50
HERE = os.path.dirname(os.path.abspath(__file__))
GOAL = ("goal: a dump in a few milliseconds once offsets are known, "
        "the target stopped for under a millisecond per thread")

# The target.  The deepest frame reports in and then blocks in C
# (lock.acquire), so every thread is parked 50 `park` frames deep.  The main
# thread signals readiness only once every other task is asleep in the kernel
# (state S), so no thread is still between "ready" and the blocking call.
# It then blocks reading stdin: if the bench dies, the pipe closes and the
# target exits by itself.
TARGET = r"""
import _thread, os, sys, threading, time
N, DEPTH = int(sys.argv[1]), int(sys.argv[2])
arrived = threading.Semaphore(0)
def park(n, lock):
    if n > 1:
        return park(n - 1, lock)
    arrived.release()
    lock.acquire()                     # blocks in C forever
for _ in range(N):
    lock = _thread.allocate_lock(); lock.acquire()
    threading.Thread(target=park, args=(DEPTH, lock), daemon=True).start()
for _ in range(N):
    arrived.acquire()
me = str(threading.get_native_id())
def asleep(tid):
    with open(f"/proc/self/task/{tid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"
while not all(asleep(t) for t in os.listdir("/proc/self/task") if t != me):
    time.sleep(0.001)                  # poll a condition, not a fixed wait
print("ready", sys.version.split()[0], flush=True)
sys.stdin.buffer.read()                # wait until the bench closes stdin
"""


def start_target(python):
    # Own session: a terminal Ctrl-C goes to the bench, which kills the
    # target in its finally block, instead of racing with it.
    proc = subprocess.Popen([python, "-c", TARGET, str(NTHREADS), str(DEPTH)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    line = proc.stdout.readline().split()   # blocks until the target is ready
    if not line or line[0] != "ready":
        raise SystemExit(f"target failed to start (exit {proc.poll()})")
    return proc, line[1]


def not_stopped(pid):
    """Assert no task of pid is left stopped/traced (state t or T)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        assert state not in "tT", f"task {tid} left in state {state}"


def timed(cmd, pid, timeout):
    """Run cmd once; return (wall ms, stdout, stderr)."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    ms = (time.perf_counter() - t0) * 1e3
    not_stopped(pid)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} exited {r.returncode}: {r.stderr.strip()}")
    return ms, r.stdout, r.stderr


def timed_devnull(cmd, pid, timeout):
    # Output to /dev/null as a real user of the tool would redirect it.
    # Not subprocess.run(timeout=): without pipes it polls waitpid with
    # sleeps of up to 50 ms, which rounds the measured times up to 50 ms
    # steps.  A blocking wait plus a kill timer is exact and still bounded.
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    guard = threading.Timer(timeout, child.kill)
    guard.start()
    try:
        rc = child.wait()
    finally:
        guard.cancel()
        if child.poll() is None:       # interrupted (Ctrl-C): don't leak it
            child.kill()
            child.wait()
    ms = (time.perf_counter() - t0) * 1e3
    not_stopped(pid)
    if rc != 0:
        raise RuntimeError(f"{cmd} exited {rc}")
    return ms


def check_dump(text):
    """The dump must have 51 thread headers, 50 of them >= DEPTH deep."""
    blocks = re.split(r"^(?:Current thread|Thread) 0x[0-9a-f]+ .*\n", text,
                      flags=re.M)[1:]
    assert len(blocks) == NTHREADS + 1, f"{len(blocks)} thread headers"
    depths = [len(re.findall(r" in park$", b, flags=re.M)) for b in blocks]
    parked = [d for d in depths if d]
    assert len(parked) == NTHREADS, f"{len(parked)} parked threads shown"
    assert min(parked) >= DEPTH, f"parked thread only {min(parked)} deep"
    return len(blocks), min(parked)


def gdb_skip_reason(python, pid):
    """None if gdb's py-bt can be used for this python, else why not."""
    if not shutil.which("gdb"):
        return "gdb not found in PATH"
    script = f"/usr/share/gdb/auto-load{os.path.realpath(python)}-gdb.py"
    if not os.path.exists(script):
        return f"no {script} (install the python3.X-dbg package)"
    r = subprocess.run(gdb_cmd(pid, "py-bt"), capture_output=True, text=True,
                       timeout=300)
    not_stopped(pid)
    if "Traceback (most recent call first)" not in r.stdout:
        err = (r.stderr.strip().splitlines() or ["no traceback printed"])[-1]
        return f"py-bt did not work: {err}"
    return None


def gdb_cmd(pid, command):
    # debuginfod off: gdb must use the local debug files as pyfault does,
    # not download anything during the timing.  -batch detaches at exit.
    return ["gdb", "-p", str(pid), "-batch", "-iex",
            "set debuginfod enabled off", "-ex", command]


def stats(xs):
    return min(xs), statistics.median(xs), max(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--gdb-runs", type=int, default=5)
    ap.add_argument("--pyfault", default=os.path.join(
        HERE, "..", "src", "pyfault-attach"))
    a = ap.parse_args()
    if a.runs < 2:
        ap.error("--runs must be at least 2 (one cold, the rest warm)")
    pyfault = os.path.normpath(a.pyfault)

    # SIGTERM/SIGHUP would end the bench without running finally blocks;
    # turn them into SystemExit so the target is still killed and reaped.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    proc, target_version = start_target(a.python)
    try:
        pid = proc.pid
        rows = []   # (tool, wall ms list)
        # 1. Wall time; the first run ever against this target is "cold".
        walls = [timed_devnull([pyfault, str(pid)], pid, 60)
                 for _ in range(a.runs)]
        rows.append(("pyfault-attach, run 1 (cold)", walls[:1]))
        rows.append(("pyfault-attach, runs 2.. (warm)", walls[1:]))
        # Offsets already known: the shipped table skips DWARF parsing,
        # which is what an offset cache will give every run.
        rows.append(("pyfault-attach --offsets=table",
                     [timed_devnull([pyfault, "--offsets=table", str(pid)],
                                    pid, 60) for _ in range(a.runs)]))
        # 2. Stopped time from -v; these runs also check the dump itself.
        stopped, internal, vwalls = [], [], []
        for _ in range(a.runs):
            ms, out, err = timed([pyfault, "-v", str(pid)], pid, 60)
            m = re.search(r"(\d+) threads read, target stopped for "
                          r"([\d.]+) ms .*, ([\d.]+) ms in all", err)
            assert m, f"no timing line in: {err!r}"
            assert int(m[1]) == NTHREADS + 1, f"{m[1]} threads read"
            stopped.append(float(m[2]))
            internal.append(float(m[3]))
            vwalls.append(ms)
        headers, min_depth = check_dump(out)
        rows.append(("pyfault-attach -v (stdout piped)", vwalls))
        # 3. gdb, same target.
        skip = gdb_skip_reason(a.python, pid)
        gdb_all_depth = None
        if skip is None:
            for label, command in (("gdb thread apply all py-bt",
                                    "thread apply all py-bt"),
                                   ("gdb py-bt (1 thread only)", "py-bt")):
                rows.append((label, [timed_devnull(gdb_cmd(pid, command), pid,
                                                   300)
                                     for _ in range(a.gdb_runs)]))
            # How much of the target gdb really showed, for honesty.
            _, out, _ = timed(gdb_cmd(pid, "thread apply all py-bt"), pid, 300)
            gdb_all_depth = sum(1 for b in out.split("\nThread ")
                                if len(re.findall(r", in park$", b,
                                                  flags=re.M)) >= DEPTH)
    finally:
        # Always kill and reap the target, even on errors or Ctrl-C.
        proc.kill()
        proc.wait()

    # 4. Report.
    base = statistics.median(walls[1:])
    print(f"target: {a.python} (Python {target_version}), {NTHREADS} threads"
          f" x {DEPTH} frames + main thread; pid {pid}")
    print(f"check:  pyfault dump has {headers} thread headers, parked "
          f"threads >= {min_depth} frames deep (asserted)")
    print(f"\n{'tool':36} {'runs':>4} {'min':>9} {'median':>9} {'max':>9}"
          f"  {'x pyfault warm':>14}")
    for tool, xs in rows:
        lo, med, hi = stats(xs)
        print(f"{tool:36} {len(xs):4} {lo:9.2f} {med:9.2f} {hi:9.2f}"
              f"  {med / base:14.2f}")
    print("(wall ms, fork+exec included; every pyfault run parses DWARF: "
          "no offset cache yet)")
    if skip:
        print(f"gdb comparison skipped: {skip}")
    else:
        print(f"gdb 'thread apply all py-bt' showed {gdb_all_depth} threads "
              f">= {DEPTH} park frames deep; plain 'py-bt' shows only the "
              "selected (main) thread")
    med_stop = statistics.median(stopped)
    print(f"\npyfault target stopped: median {med_stop:.3f} ms (min "
          f"{min(stopped):.3f}, max {max(stopped):.3f}) over {a.runs} runs; "
          f"{med_stop / (NTHREADS + 1) * 1e3:.1f} us per thread "
          f"({NTHREADS + 1} threads)")
    print(f"pyfault's own total ('ms in all'): median "
          f"{statistics.median(internal):.3f} ms")
    gdbv = (subprocess.run(["gdb", "--version"], capture_output=True,
                           text=True).stdout.split("\n")[0]
            if shutil.which("gdb") else "no gdb")
    print(f"\nmachine: nproc {len(os.sched_getaffinity(0))}, kernel "
          f"{platform.release()} {platform.machine()}, bench Python "
          f"{platform.python_version()}, target Python {target_version}, "
          f"{gdbv}")
    print(GOAL)


if __name__ == "__main__":
    main()
