#!/usr/bin/python3
"""Benchmark the wall-time overhead of running Python under pyfault-watch.

What it measures
  Small inline programs, every one a kind of event that makes a ptrace
  stop (or none, for the control):
    (a) CPU-bound pure Python (recursive fib): no stops at all after start;
    (b) 3000 short threads created and joined, 4 alive at a time: a clone
        event plus the new thread's first stop each;
    (c) 300 x subprocess.run(["true"]): a vfork event, a child traced from
        its first instruction (exec event, exit) and a SIGCHLD stop each;
    (d) a 0.5 ms SIGALRM interval timer, counted by a Python handler, until
        3000 signals arrived: a signal-delivery stop each;
    (e) `python -c pass`: the start alone, where pyfault-watch also steps
        the dynamic loader's system calls and finds the offsets; run
        --start-runs times.
  Each program runs as four variants: bare; under the floor, a follower
  that only resumes every stop of every thread and child
  (bench/floor_follower.c, built here with cc: what ptrace itself costs);
  under `pyfault-watch --`; and under `python -X faulthandler` (the
  in-process tool pyfault replaces).  The variants are interleaved run by
  run after one unmeasured warm-up round, so drift of the machine hits all
  alike; ratios are per run (x_i / bare_i, x_i / floor_i), then summarised
  as median [min, max].  For (e) the medians' difference, pyfault-watch's
  start beyond the floor's, is printed in ms too.
  (d) is paced by its timer, so its wall time hides most of what a stop
  costs; its main thread therefore spins a Python loop while waiting, and
  the iterations it managed (per run, against bare) show the CPU lost.
  Every run must exit 0, print what its program prints ("ok", nothing for
  (e)) and nothing on stderr, else the bench fails loudly.

Goals (issue 11): pyfault-watch <= 1.05x the floor on (b) and (c); its
start <= 2 ms beyond the floor's.

Run:  bench/watch_bench.py [--python /usr/bin/python3] [--runs 11]
                           [--start-runs 15] [--watch src/pyfault-watch]
                           [--only a,c,e]
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
GOALS = {"floor_ratio": 1.05, "start_ms": 2.0}
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
    ("(b) 3000 threads, 4 alive", r"""
import threading
N, ALIVE = 3000, 4
done = []
for base in range(0, N, ALIVE):
    ts = [threading.Thread(target=done.append, args=(i,))
          for i in range(base, base + ALIVE)]
    for t in ts: t.start()
    for t in ts: t.join()
assert len(done) == N, len(done)
print("ok")
"""),
    ("(c) 300 subprocess.run(true)", r"""
import subprocess
for _ in range(300):
    subprocess.run(["true"], check=True)
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
    ("(e) start: -c pass", "pass"),
]


def run_once(cmd, quiet=False):
    """Run cmd once; return (wall s, the number after "ok" or None).
    quiet: its program prints nothing."""
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
    if rc != 0 or stderr or (words[:1] != ["ok"] and (words or not quiet)):
        why = "timed out" if wall >= TIMEOUT else f"exited {rc}"
        raise SystemExit(f"FAILED: {cmd[:-1]} ... {why} after "
                         f"{wall:.2f} s\nstdout: {stdout!r}\nstderr: {stderr}")
    return wall, (int(words[1]) if len(words) > 1 else None)


def build_floor(tmp):
    """Compiles bench/floor_follower.c with $CC (cc) into tmp."""
    exe = os.path.join(tmp, "floor_follower")
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-O2", "-o", exe,
                        os.path.join(HERE, "floor_follower.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"cannot build the floor follower with {cc}:\n"
                         f"{r.stderr}")
    return exe


def summary(xs):
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}, {max(xs):.2f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default="/usr/bin/python3")
    # (b)'s ratio to the floor spread over 0.97-1.17 in 5 runs on a
    # 2-core VM, so that its median of 5 fell either side of the goal;
    # 11 runs gave 1.006x and 1.011x for two builds alike.
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--start-runs", type=int, default=15)
    ap.add_argument("--only", help="workload letters, e.g. b,c,e")
    ap.add_argument("--watch", default=os.path.join(HERE, "..", "src",
                                                    "pyfault-watch"))
    a = ap.parse_args()
    if a.runs < 1 or a.start_runs < 1:
        ap.error("--runs and --start-runs must be at least 1")
    watch = os.path.normpath(a.watch)
    if not os.access(watch, os.X_OK):
        raise SystemExit(f"{watch} not found; build it with "
                         "make src/pyfault-watch at the top of the tree")
    only = set(a.only.split(",")) if a.only else None
    # SIGTERM/SIGHUP would end the bench without running finally blocks;
    # turn them into SystemExit so the running child group is still killed.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    version = subprocess.run([a.python, "-c", "import sys; print(sys.version"
                              ".split()[0])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        floor = build_floor(tmp)
        variants = [("bare", [a.python]),
                    ("floor", [floor, a.python]),
                    ("pyfault-watch", [watch, "--", a.python]),
                    ("-X faulthandler", [a.python, "-X", "faulthandler"])]
        run_all(a, only, version, variants)


def run_all(a, only, version, variants):
    load0 = os.getloadavg()[0]     # other load on the box skews everything
    print(f"target: {a.python} (Python {version}); runs per variant: {a.runs}"
          f" ({a.start_runs} for the start), interleaved, after 1 warm-up "
          "round")
    print(f"\n{'workload':31} {'variant':15} {'min s':>7} {'median':>7} "
          f"{'max s':>7}  {'x bare: median [min, max]':>25}  "
          f"{'x floor: median [min, max]':>26}")
    goals = []
    for name, prog in WORKLOADS:
        if only and name[1] not in only:
            continue
        start = prog == "pass"
        runs = a.start_runs if start else a.runs
        walls = {v: [] for v, _ in variants}
        work = {v: [] for v, _ in variants}
        for run in range(-1, runs):            # run -1: warm-up, checked only
            for v, prefix in variants:
                wall, n = run_once(prefix + ["-c", prog], quiet=start)
                if run >= 0:
                    walls[v].append(wall)
                    work[v].append(n)
        for i, (v, _) in enumerate(variants):
            xs = walls[v]
            vs_bare = "" if v == "bare" else summary(
                [w / b for w, b in zip(xs, walls["bare"])])
            vs_floor = "" if v in ("bare", "floor") else summary(
                [w / f for w, f in zip(xs, walls["floor"])])
            print(f"{name if i == 0 else '':31} {v:15} {min(xs):7.4f} "
                  f"{statistics.median(xs):7.4f} {max(xs):7.4f}  "
                  f"{vs_bare:>25}  {vs_floor:>26}".rstrip())
        # (d) only: its wall time is the timer's, the work done is not.
        for v, _ in variants[1:] if work["bare"][0] is not None else []:
            ratio = summary([w / b for w, b in zip(work[v], work["bare"])])
            print(f"{'    its loop iterations':31} {v:15} "
                  f"{'(work, not wall)':>23}  {ratio:>25}")
        med = {v: statistics.median(walls[v]) for v, _ in variants}
        pairs = list(zip(walls["pyfault-watch"], walls["floor"]))
        if start:
            beyond = statistics.median(w - f for w, f in pairs) * 1e3
            print(f"{'    start beyond the floor':31} {'pyfault-watch':15} "
                  f"{beyond:7.2f} ms (medians: bare {med['bare'] * 1e3:.1f}"
                  f", floor {med['floor'] * 1e3:.1f}, pyfault-watch "
                  f"{med['pyfault-watch'] * 1e3:.1f} ms)")
            goals.append((f"{name}: start beyond the floor {beyond:.2f} ms",
                          beyond <= GOALS["start_ms"],
                          f"<= {GOALS['start_ms']} ms"))
        elif name[1] in "bc":
            ratio = statistics.median(w / f for w, f in pairs)
            goals.append((f"{name}: {ratio:.3f}x the floor",
                          ratio <= GOALS["floor_ratio"],
                          f"<= {GOALS['floor_ratio']}x"))
    print(f"\nmachine: nproc {os.cpu_count()} (usable "
          f"{len(os.sched_getaffinity(0))}), kernel {platform.release()} "
          f"{platform.machine()}, target Python {version}, bench Python "
          f"{platform.python_version()}, 1-min load avg {load0:.2f} at "
          f"start, {os.getloadavg()[0]:.2f} at end")
    if goals:
        print("goals (issue 11; medians of the runs' pyfault-watch/floor "
              "pairs):")
    for what, met, goal in goals:
        print(f"  {what} (goal {goal}): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
