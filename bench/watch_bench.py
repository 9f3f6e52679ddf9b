#!/usr/bin/python3
"""Benchmark the wall-time overhead of running Python under pyfault-watch.

What it measures
  Four small inline programs, each ~0.5-2 s bare, every one a kind of event
  that makes a ptrace stop (or none, for the control):
    (a) CPU-bound pure Python (recursive fib): no stops at all after start;
    (b) 10000 threads created and joined, 4 alive at a time: a clone event
        plus the new thread's first stop each;
    (c) 800 x subprocess.run(["/bin/true"]): a vfork event, a child traced
        from its first instruction (exec event, exit) and a SIGCHLD stop
        each;
    (d) a 0.5 ms SIGALRM interval timer, counted by a Python handler, until
        3000 signals arrived: a signal-delivery stop each.
  Each program runs as three variants: bare, under `pyfault-watch --`, and
  under `python -X faulthandler` (the in-process tool pyfault replaces: the
  anchor for what "free" looks like).  The variants are interleaved run by
  run (bare, watch, faulthandler, bare, ...) after one unmeasured warm-up
  round, so drift of the machine hits all three alike; ratios are per run
  (watch_i / bare_i), then summarised as median [min, max].
  (d) is paced by its timer, so its wall time hides most of what a stop
  costs; its main thread therefore spins a Python loop while waiting, and
  the iterations it managed (per run, against bare) show the CPU lost.
  Every run must exit 0, print "ok" and nothing on stderr, else the bench
  fails loudly.

Run:  bench/watch_bench.py [--python /usr/bin/python3.11] [--runs 5]
                           [--watch src/pyfault-watch]
"""
import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GOAL = ("goal: ratio ≤ 1.02 on (a); "
        "as close to 1.00 as ptrace allows on (b)–(d)")
TIMEOUT = 120   # seconds per run; far above any sane run, only a safety net

# The workloads.  Each checks its own result and prints "ok [work]"; an
# assertion failing gives exit status 1, which fails the bench.
WORKLOADS = [
    ("(a) CPU: fib(35), pure Python", r"""
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
assert fib(35) == 9227465
print("ok")
"""),
    ("(b) 10000 threads, 4 alive", r"""
import threading
N, ALIVE = 10000, 4
done = []
for base in range(0, N, ALIVE):
    ts = [threading.Thread(target=done.append, args=(i,))
          for i in range(base, base + ALIVE)]
    for t in ts: t.start()
    for t in ts: t.join()
assert len(done) == N, len(done)
print("ok")
"""),
    ("(c) 800 subprocess.run(true)", r"""
import subprocess
for _ in range(800):
    subprocess.run(["/bin/true"], check=True)
print("ok")
"""),
    ("(d) 3000 SIGALRM, 0.5 ms timer", r"""
import signal
count = 0
def on_alarm(signum, frame):
    global count
    count += 1
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
spins = 0
while count < 3000:      # busy, not pause(): the spins measure lost CPU
    spins += 1
signal.setitimer(signal.ITIMER_REAL, 0)
print("ok", spins)
"""),
]


def run_once(cmd):
    """Run cmd once; return (wall s, the number after "ok" or None)."""
    # Output to temporary files, not pipes: subprocess.run(timeout=) polls
    # waitpid with sleeps of up to 50 ms and communicate() ends on EOF, not
    # exit.  A blocking wait plus a kill timer is exact and still bounded.
    # Own session: a terminal Ctrl-C reaches only the bench, whose finally
    # then kills the whole group (pyfault-watch and its tracee alike).
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=err, start_new_session=True)
        guard = threading.Timer(TIMEOUT, os.killpg,
                                (child.pid, signal.SIGKILL))
        guard.start()
        try:
            # WNOWAIT: the leader stays a zombie, so its group id cannot be
            # reused by an unrelated process before the killpg below.
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
            wall = time.perf_counter() - t0
        finally:
            guard.cancel()
            try:       # interrupted, timed out, or a tracee left behind
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = child.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    words = stdout.split()
    if rc != 0 or stderr or not words or words[0] != "ok":
        why = "timed out" if wall >= TIMEOUT else f"exited {rc}"
        raise SystemExit(f"FAILED: {cmd[:-1]} ... {why} after "
                         f"{wall:.2f} s\nstdout: {stdout!r}\nstderr: {stderr}")
    return wall, (int(words[1]) if len(words) > 1 else None)


def summary(xs):
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}, {max(xs):.2f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--watch", default=os.path.join(HERE, "..", "src",
                                                    "pyfault-watch"))
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    watch = os.path.normpath(a.watch)
    if not os.access(watch, os.X_OK):
        raise SystemExit(f"{watch} not found; build it with "
                         "make src/pyfault-watch at the top of the tree")
    # SIGTERM/SIGHUP would end the bench without running finally blocks;
    # turn them into SystemExit so the running child group is still killed.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    version = subprocess.run([a.python, "-c", "import sys; print(sys.version"
                              ".split()[0])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    variants = [("bare", [a.python]),
                ("pyfault-watch", [watch, "--", a.python]),
                ("-X faulthandler", [a.python, "-X", "faulthandler"])]

    load0 = os.getloadavg()[0]     # other load on the box skews everything
    print(f"target: {a.python} (Python {version}); runs per variant: {a.runs},"
          " interleaved, after 1 warm-up round")
    print(f"\n{'workload':31} {'variant':15} {'min s':>6} {'median':>6} "
          f"{'max s':>6}  {'x bare: median [min, max]':>25}")
    for name, prog in WORKLOADS:
        walls = {v: [] for v, _ in variants}
        work = {v: [] for v, _ in variants}
        for run in range(-1, a.runs):          # run -1: warm-up, checked only
            for v, prefix in variants:
                wall, n = run_once(prefix + ["-c", prog])
                if run >= 0:
                    walls[v].append(wall)
                    work[v].append(n)
        for i, (v, _) in enumerate(variants):
            xs = walls[v]
            ratio = "" if v == "bare" else summary(
                [w / b for w, b in zip(xs, walls["bare"])])
            print(f"{name if i == 0 else '':31} {v:15} {min(xs):6.3f} "
                  f"{statistics.median(xs):6.3f} {max(xs):6.3f}  "
                  f"{ratio:>25}".rstrip())
        # (d) only: its wall time is the timer's, the work done is not.
        for v, _ in variants[1:] if work["bare"][0] is not None else []:
            ratio = summary([w / b for w, b in zip(work[v], work["bare"])])
            print(f"{'    its loop iterations':31} {v:15} "
                  f"{'(work, not wall)':>20}  {ratio:>25}")
    print(f"\nmachine: nproc {os.cpu_count()} (usable "
          f"{len(os.sched_getaffinity(0))}), kernel {platform.release()} "
          f"{platform.machine()}, target Python {version}, bench Python "
          f"{platform.python_version()}, 1-min load avg {load0:.2f} at "
          f"start, {os.getloadavg()[0]:.2f} at end")
    print(GOAL)


if __name__ == "__main__":
    main()
