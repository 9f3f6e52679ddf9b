#!/usr/bin/python3
"""Benchmark: structure offsets from DWARF on a cold offset cache, and from
the cache once it is warm, for every CPython on this machine.

What it measures, per interpreter (those tests/functional/pyinterps.py
finds: Debian's python3.X and python3.Xd, every pyenv version 3.8+):
  * cold: `pyfault-attach -v --offsets=dwarf PID` with an empty cache
    directory (XDG_CACHE_HOME) each run: pyfault finds the debug file
    (libdwfl), opens it (libdw; a compressed .debug_* section is inflated
    here) and reads the structs it needs, then writes the cache entry.
  * warm: the same command with the entry in place: pyfault reads the
    entry and parses no DWARF.
  For both, pyfault's own -v figure for the offsets step ("offsets from ...
  in X ms": finding the layout only) and the wall time of the whole attach
  (start of pyfault-attach to its exit, dump to /dev/null).  The page
  cache is warm in both: the first cold run, which warms it, is dropped.
  * With --split, `src/pyfault-layout -t` for the interpreter's ELF: the
    CPU time of the whole extraction, and of finding and opening the debug
    file alone (libdw inflates its compressed sections there), which on a
    busy machine says more than wall time.
The target is `python -c` blocked reading stdin: one thread, a few frames.

Goal (issue 4): cold <= 100 ms, warm <= 1 ms for the offsets step.

Run:  bench/offsets_bench.py [--runs 10] [--attach src/pyfault-attach]
                             [--split] [--layout src/pyfault-layout]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "functional"))
import pyinterps  # noqa: E402

COLD_GOAL_MS, WARM_GOAL_MS = 100.0, 1.0
TARGET = ("import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); "
          "sys.stdin.read()")
OFFSETS = re.compile(rb"offsets from (.*?) \((.*)\) in ([0-9.]+) ms\n")


def start_target(python):
    proc = subprocess.Popen([python, "-c", TARGET], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, start_new_session=True)
    if proc.stdout.readline() != b"ready\n":
        raise SystemExit("%s: target failed to start" % python)
    return proc


def attach(binary, pid, cache):
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    t0 = time.perf_counter()
    out = subprocess.run([binary, "-v", "--offsets=dwarf", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=env)
    wall = (time.perf_counter() - t0) * 1e3
    m = OFFSETS.search(out.stderr)
    if out.returncode != 0 or not m:
        raise RuntimeError("pyfault-attach failed (status %d): %s" % (
            out.returncode, out.stderr.decode(errors="replace").strip()))
    return float(m.group(3)), wall, m.group(2).decode()


def measure(binary, interp, runs, scratch):
    target = start_target(interp.path)
    try:
        cold_off, cold_wall, warm_off, warm_wall = [], [], [], []
        detail = None
        for n in range(runs + 1):
            cache = tempfile.mkdtemp(dir=scratch)
            off, wall, detail = attach(binary, target.pid, cache)
            if n > 0:          # the first one warms the page cache
                cold_off.append(off)
                cold_wall.append(wall)
            shutil.rmtree(cache)
        cache = tempfile.mkdtemp(dir=scratch)
        attach(binary, target.pid, cache)
        for _ in range(runs):
            off, wall, warm_detail = attach(binary, target.pid, cache)
            if "from the cache" not in warm_detail:
                raise RuntimeError("warm run did not use the cache: %s"
                                   % warm_detail)
            warm_off.append(off)
            warm_wall.append(wall)
        return detail, [statistics.median(x) for x in
                        (cold_off, cold_wall, warm_off, warm_wall)]
    finally:
        target.stdin.close()
        target.wait()


def elf_of(interp):
    prefix = os.path.dirname(os.path.dirname(interp.real))
    lib = os.path.join(prefix, "lib", "libpython%d.%d.so.1.0"
                       % interp.version[:2])
    return lib if os.path.exists(lib) else interp.real


def split(layout, interp, runs):
    """pyfault-layout -t: CPU time of the whole extraction and of finding
    and opening the debug file alone, medians over runs."""
    whole, opened = [], []
    mm = "%d.%d" % interp.version[:2]
    for _ in range(runs):
        out = subprocess.run([layout, "-t", mm, elf_of(interp)],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        m = re.search(rb"ms wall, ([0-9.]+) ms CPU; finding and opening the "
                      rb"debug file alone ([0-9.]+) ms CPU", out.stderr)
        if not m:
            return None
        whole.append(float(m.group(1)))
        opened.append(float(m.group(2)))
    return statistics.median(whole), statistics.median(opened)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--attach", default=os.path.join(
        HERE, "..", "src", "pyfault-attach"))
    parser.add_argument("--layout", default=os.path.join(
        HERE, "..", "src", "pyfault-layout"))
    parser.add_argument("--split", action="store_true")
    opts = parser.parse_args()
    if not os.access(opts.attach, os.X_OK):
        raise SystemExit("%s not built: run make first" % opts.attach)

    interps, _ = pyinterps.discover()
    full = [i for i in interps if i.mode == "full"]
    scratch = tempfile.mkdtemp(prefix="pyfault-offsets-bench-")
    print("offsets step (pyfault -v) and whole attach (wall), medians of "
          "%d runs; goal: cold <= %g ms, warm <= %g ms" % (
              opts.runs, COLD_GOAL_MS, WARM_GOAL_MS))
    # Wall times stretch with the load; --split's CPU times do not.
    print("load average %.1f on %d CPUs" % (os.getloadavg()[0],
                                            os.cpu_count() or 1))
    head = "%-10s %10s %10s %8s %10s %10s  %s" % (
        "python", "cold ms", "warm ms", "ratio", "cold wall", "warm wall",
        "DWARF from")
    print(head)
    failed, failed_cpu = [], []
    try:
        for interp in full:
            try:
                detail, (co, cw, wo, ww) = measure(opts.attach, interp,
                                                   opts.runs, scratch)
            except RuntimeError as exc:
                print("%-10s %s" % (interp.label, exc))
                continue
            print("%-10s %10.3f %10.3f %7.0fx %10.1f %10.1f  %s" % (
                interp.label, co, wo, co / wo if wo else float("inf"),
                cw, ww, detail))
            if co > COLD_GOAL_MS or wo > WARM_GOAL_MS:
                failed.append(interp.label)
            if opts.split and os.access(opts.layout, os.X_OK):
                parts = split(opts.layout, interp, opts.runs)
                if parts and parts[0] > COLD_GOAL_MS:
                    failed_cpu.append(interp.label)
                if parts:
                    print("%-10s   pyfault-layout, CPU: %.1f ms in all, of "
                          "which finding and opening the debug file %.1f ms"
                          % ("", parts[0], parts[1]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("goal (wall) met by all" if not failed else
          "goal (wall) missed by: %s" % ", ".join(failed))
    if opts.split:
        print("cold goal (CPU of the extraction) met by all"
              if not failed_cpu else "cold goal (CPU) missed by: %s"
              % ", ".join(failed_cpu))


if __name__ == "__main__":
    main()
