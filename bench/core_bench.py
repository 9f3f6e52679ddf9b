#!/usr/bin/python3
"""Benchmark pyfault-core on a ~1 GiB core of a 51-thread CPython process,
against gdb's py-bt on the same core.

What it measures
  * The core: the target of bench/attach_bench.py (50 threads, each 50
    frames deep in a recursive Python function, then blocked in C on a
    lock; the main thread waits on stdin) holding 1 GiB of touched memory,
    written by the kernel at a SIGQUIT (which faulthandler does not
    handle: the dump shows every thread) where core_pattern names a plain
    file, else by gcore (--writer chooses; gcore also writes the untouched
    parts of the thread stacks and malloc arenas, 2.3 GiB in all).
  * Wall time of `pyfault-core CORE` (output to /dev/null), N runs; the
    first alone, whose offsets come from DWARF and go to the offset cache
    (the page cache is not dropped: the machine is shared).
  * `pyfault-core --no-cache` (offsets from DWARF in every run) and
    `pyfault-core --offsets=table` (no DWARF at all).
  * pyfault's own total from -v.
  * `gdb -batch -ex "thread apply all py-bt" EXE CORE` and plain `py-bt`,
    with the python3.X-gdb.py auto-load script of python3.X-dbg.
One dump is checked to show 51 threads, 50 of them 50 frames deep.
Goal: a dump in <= 50 ms.

Run:  bench/core_bench.py [--python /usr/bin/python3.11] [--runs 20]
                          [--gdb-runs 3] [--pyfault src/pyfault-core]
                          [--dir DIR] [--keep]
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import attach_bench
from attach_bench import NTHREADS, DEPTH
BALLAST = 1 << 30
HERE = os.path.dirname(os.path.abspath(__file__))
GOAL_MS = 50.0

# attach_bench.py's target, with BALLAST bytes of touched memory (not
# zero: the kernel and gcore write what a process touched).
TARGET = attach_bench.TARGET.replace(
    "N, DEPTH = int(sys.argv[1]), int(sys.argv[2])\n",
    "N, DEPTH, BALLAST = int(sys.argv[1]), int(sys.argv[2]), "
    "int(sys.argv[3])\nballast = bytearray(b\"\\x5a\") * BALLAST\n")
assert "ballast" in TARGET


def unlimited_core():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE,
                       (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def start_target(python, cwd):
    proc = subprocess.Popen([python, "-c", TARGET, str(NTHREADS), str(DEPTH),
                             str(BALLAST)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=cwd,
                            preexec_fn=unlimited_core)
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        raise SystemExit(f"target failed to start (exit {proc.poll()})")
    return proc, line[1]


def timed_devnull(cmd, timeout):
    """Wall ms of cmd with its output to /dev/null (a blocking wait and a
    kill timer: exact, and bounded)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    guard = threading.Timer(timeout, child.kill)
    guard.start()
    try:
        rc = child.wait()
    finally:
        guard.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    ms = (time.perf_counter() - t0) * 1e3
    if rc != 0:
        raise RuntimeError(f"{cmd} exited {rc}")
    return ms


def kernel_writes_file():
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    return not pattern.startswith("|") and "/" not in pattern


def write_core(proc, workdir, writer):
    """The core of proc, by the kernel (SIGQUIT, which faulthandler does
    not handle: every thread is dumped) or by gcore; (path, ms)."""
    t0 = time.perf_counter()
    if writer == "kernel":
        os.kill(proc.pid, signal.SIGQUIT)
        proc.wait()
        names = os.listdir(workdir)
        if len(names) != 1:
            raise SystemExit(f"expected one core in {workdir}: {names}")
        return os.path.join(workdir, names[0]), \
            (time.perf_counter() - t0) * 1e3
    r = subprocess.run(["gcore", "-o", os.path.join(workdir, "core"),
                        str(proc.pid)], capture_output=True, text=True,
                       timeout=600)
    core = os.path.join(workdir, "core.%d" % proc.pid)
    if r.returncode != 0 or not os.path.exists(core):
        raise SystemExit(f"gcore failed: {r.stderr.strip()}")
    return core, (time.perf_counter() - t0) * 1e3


def gdb_skip_reason(python):
    if not shutil.which("gdb"):
        return "gdb not found in PATH"
    script = f"/usr/share/gdb/auto-load{os.path.realpath(python)}-gdb.py"
    if not os.path.exists(script):
        return f"no {script} (install the python3.X-dbg package)"
    return None


def gdb_cmd(python, core, command):
    return ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
            "-iex", "set auto-load safe-path /",
            "-iex", "add-auto-load-scripts-directory /usr/share/gdb/auto-load",
            "-ex", command, os.path.realpath(python), core]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--gdb-runs", type=int, default=3)
    ap.add_argument("--pyfault", default=os.path.join(
        HERE, "..", "src", "pyfault-core"))
    ap.add_argument("--dir", default=None,
                    help="where to write the core (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--writer", choices=("kernel", "gcore"), default=None,
                    help="who writes the core (default: the kernel when "
                    "core_pattern names a plain file, else gcore)")
    a = ap.parse_args()
    writer = a.writer or ("kernel" if kernel_writes_file() else "gcore")
    pyfault = os.path.normpath(a.pyfault)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    workdir = tempfile.mkdtemp(prefix="pyfault-core-bench-", dir=a.dir)
    # An offset cache of its own, empty: run 1 derives the offsets.
    os.environ["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")
    coredir = os.path.join(workdir, "cwd")
    os.mkdir(coredir)
    rows = []
    try:
        proc, version = start_target(a.python, coredir)
        try:
            core, write_ms = write_core(proc, coredir, writer)
        finally:
            proc.stdin.close()
            proc.kill()
            proc.wait()
        size = os.path.getsize(core)
        used = os.stat(core).st_blocks * 512
        walls = [timed_devnull([pyfault, core], 60) for _ in range(a.runs)]
        rows.append(("pyfault-core, run 1 (offset cache cold)", walls[:1]))
        rows.append(("pyfault-core, runs 2.. (warm)", walls[1:]))
        rows.append(("pyfault-core --no-cache (DWARF every run)",
                     [timed_devnull([pyfault, "--no-cache", core], 60)
                      for _ in range(a.runs)]))
        rows.append(("pyfault-core --offsets=table",
                     [timed_devnull([pyfault, "--offsets=table", core], 60)
                      for _ in range(a.runs)]))
        internal = []
        for _ in range(a.runs):
            r = subprocess.run([pyfault, "-v", core], capture_output=True,
                               text=True, timeout=60)
            m = re.search(r"(\d+) threads read, ([\d.]+) ms in all",
                          r.stderr)
            assert r.returncode == 0 and m, f"pyfault-core -v: {r.stderr!r}"
            assert int(m[1]) == NTHREADS + 1, f"{m[1]} threads read"
            internal.append(float(m[2]))
        headers, depth = attach_bench.check_dump(r.stdout)
        rows.append(("pyfault-core -v: its own total", internal))
        skip = gdb_skip_reason(a.python)
        if skip is None:
            for label, command in (("gdb thread apply all py-bt (core)",
                                    "thread apply all py-bt"),
                                   ("gdb py-bt (1 thread only, core)",
                                    "py-bt")):
                rows.append((label, [timed_devnull(
                    gdb_cmd(a.python, core, command), 600)
                    for _ in range(a.gdb_runs)]))
            out = subprocess.run(gdb_cmd(a.python, core,
                                         "thread apply all py-bt"),
                                 capture_output=True, text=True,
                                 timeout=600).stdout
            gdb_threads = out.count("Traceback (most recent call first)")
            gdb_frames = len(re.findall(r"in park", out))
    finally:
        if a.keep:
            print("kept", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"target: Python {version} ({a.python}), {NTHREADS + 1} threads, "
          f"{NTHREADS} of them {DEPTH} frames deep, {BALLAST >> 20} MiB "
          f"ballast")
    print(f"core: {size / 2**30:.2f} GiB ({used / 2**30:.2f} GiB on disk), "
          f"written by {writer} in {write_ms:.0f} ms")
    print(f"pyfault-core's dump checked: {headers} threads, parked ones "
          f">= {depth} frames")
    print(f"{'':44} {'min':>9} {'median':>9} {'max':>9}  (ms)")
    for label, xs in rows:
        lo, med, hi = attach_bench.stats(xs)
        print(f"{label:44} {lo:9.1f} {med:9.1f} {hi:9.1f}")
    warm = statistics.median(rows[1][1])
    verdict = "met" if warm <= GOAL_MS else "NOT met"
    print(f"goal: a dump in <= {GOAL_MS:.0f} ms: {verdict} "
          f"(warm median {warm:.1f} ms)")
    if skip is None:
        gdb_all = statistics.median(rows[-2][1])
        print(f"gdb thread apply all py-bt showed {gdb_threads} tracebacks, "
              f"{gdb_frames} 'park' frames")
        print(f"ratio: gdb all-threads py-bt / pyfault-core warm = "
              f"{gdb_all / warm:.0f}x")
    else:
        print(f"gdb skipped: {skip}")


if __name__ == "__main__":
    main()
