#!/usr/bin/python3
"""Benchmark pyfault-attach against austin -w and gdb's py-bt, side by side.

What it measures, in one alternating series on one target (51 threads: 50
each 50 frames deep in a recursive Python function, blocked in C on a lock,
and the main thread waiting on stdin), round by round so that drift of a
shared machine hits every tool alike:
  * `pyfault-attach PID`, output to /dev/null: the wall time an operator
    waits for;
  * `austin -w PID` when --austin names a build of austin 3.7.0 (Debian's
    austin 1.0 reads no modern CPython): one sample of every thread's
    Python stack, without stopping the target;
  * `gdb -p PID -batch -ex "thread apply all py-bt"` in the first
    --gdb-runs rounds, where py-bt works (python3.X-dbg's auto-load script
    for this interpreter);
  * `pyfault-attach -v PID`: pyfault's own figures, the time the target was
    held (stop every thread, walk, resume) and the reads of its memory.
Then a second target with 20 threads: `pyfault-attach --native PID`
against plain `pyfault-attach PID`, alternating.  Medians of every series,
and the ratios the goals name (issue 11):
  pyfault-attach's wall <= 0.4x austin -w's; the target held <= 4 ms for 51
  threads; <= 300 reads of its memory; --native <= 2x plain.
Each timed run's CPU (the one it ended on) is kept too: where one tool runs
at different speeds on different CPUs, the medians by CPU say so, and the
wall ratio is also given against austin on its fastest CPU.
The dumps are checked once: pyfault's shows 51 threads, 50 of them >= 50
frames deep; so must austin's and gdb's to count.

Run:  bench/attach_bench.py [--python PYTHON] [--runs 21] [--gdb-runs 3]
                            [--austin PATH] [--pyfault src/pyfault-attach]
The default target is pyenv's 3.12 when present, else Debian's python3.
"""
import argparse
import glob
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

NTHREADS, DEPTH, NATIVE_THREADS = 50, 50, 20
HERE = os.path.dirname(os.path.abspath(__file__))
GOALS = {"wall": 0.4, "held_ms": 4.0, "reads": 300, "native": 2.0}

# The deepest frame reports in and then blocks in C (lock.acquire), so
# every thread is parked DEPTH `park` frames deep.  The main thread signals
# readiness only once every other task is asleep in the kernel (state S),
# so no thread is still between "ready" and the blocking call.  It then
# blocks reading stdin: if the bench dies, the pipe closes and the target
# exits by itself.
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


def default_python():
    """pyenv's newest 3.12 when there is one, else Debian's python3."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        root = os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", "3.12.*",
                                          "bin", "python3.12")))
    return found[-1] if found else "/usr/bin/python3"


def start_target(python, nthreads, depth=DEPTH):
    # Own session: a terminal Ctrl-C goes to the bench, which kills the
    # target in its finally block, instead of racing with it.
    proc = subprocess.Popen([python, "-c", TARGET, str(nthreads), str(depth)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    line = proc.stdout.readline().split()   # blocks until the target is ready
    if not line or line[0] != "ready":
        proc.kill()
        proc.wait()
        raise SystemExit(f"target failed to start (exit {proc.poll()})")
    return proc, line[1]


def not_stopped(pid):
    """Assert no task of pid is left stopped/traced (state t or T)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        assert state not in "tT", f"task {tid} left in state {state}"


def timed(cmd, pid, timeout):
    """Run cmd once with its output captured; return (wall ms, out, err)."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    ms = (time.perf_counter() - t0) * 1e3
    not_stopped(pid)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} exited {r.returncode}: {r.stderr.strip()}")
    return ms, r.stdout, r.stderr


class Overdue(Exception):
    """A measured run outlived its timeout."""


def overdue(signum, frame):
    raise Overdue


def last_cpu(pid):
    """The CPU a process (a zombie not yet reaped too) last ran on."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


def timed_devnull(cmd, pid, timeout):
    """Run cmd once, output to /dev/null as a real user of the tool would
    redirect it; return its wall time in ms and the CPU it ended on (a
    2-core VM may run one tool at very different speeds on its two
    CPUs).

    Nothing but the tool runs between the two clock reads: posix_spawn
    (no copy of the bench's page tables) and a blocking waitpid.  The
    bound is an interval timer armed before the first read, whose SIGALRM
    interrupts the wait.  A timer thread per run, or subprocess's polling
    wait, would be timed along (0.1-0.2 ms a run on a 2-core VM, as much
    as what separates the tools) or round the times up."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2)]
    child = None
    previous = signal.signal(signal.SIGALRM, overdue)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        t0 = time.perf_counter()
        child = os.posix_spawnp(cmd[0], cmd, os.environ,
                                file_actions=actions)
        os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)
        ms = (time.perf_counter() - t0) * 1e3
        cpu = last_cpu(child)
        _, status = os.waitpid(child, 0)
        child = None
    except Overdue:
        raise RuntimeError(f"{cmd} ran over {timeout} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(devnull)
        if child is not None:          # overdue or Ctrl-C: don't leak it
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
    not_stopped(pid)
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise RuntimeError(f"{cmd} exited {rc}")
    return ms, cpu


def check_dump(text, nthreads):
    """pyfault's dump: nthreads + 1 headers, nthreads >= DEPTH deep."""
    blocks = re.split(r"^(?:Current thread|Thread) 0x[0-9a-f]+ .*\n", text,
                      flags=re.M)[1:]
    assert len(blocks) == nthreads + 1, f"{len(blocks)} thread headers"
    depths = [len(re.findall(r" in park$", b, flags=re.M)) for b in blocks]
    parked = [d for d in depths if d]
    assert len(parked) == nthreads, f"{len(parked)} parked threads shown"
    assert min(parked) >= DEPTH, f"parked thread only {min(parked)} deep"


def deep_threads(blocks, frame_re):
    """How many of the blocks show at least DEPTH park frames."""
    return sum(1 for b in blocks
               if len(re.findall(frame_re, b, flags=re.M)) >= DEPTH)


def austin_shows(austin, pid):
    """Threads austin -w shows >= DEPTH park frames deep."""
    _, out, _ = timed([austin, "-w", str(pid)], pid, 60)
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)     # its colours
    return deep_threads(re.split(r"Thread ", out)[1:], r"^\s*park \(")


def gdb_cmd(pid, command):
    # debuginfod off: gdb must use the local debug files as pyfault does,
    # not download anything during the timing.  -batch detaches at exit.
    return ["gdb", "-p", str(pid), "-batch", "-iex",
            "set debuginfod enabled off", "-ex", command]


def gdb_skip_reason(python, pid):
    """None if gdb's py-bt works for this python, else why not."""
    if not shutil.which("gdb"):
        return "gdb not found in PATH"
    script = f"/usr/share/gdb/auto-load{os.path.realpath(python)}-gdb.py"
    if not os.path.exists(script):
        return f"no {script} (the python3.X-dbg package has it)"
    _, out, err = timed(gdb_cmd(pid, "py-bt"), pid, 300)
    if "Traceback (most recent call first)" not in out:
        err = (err.strip().splitlines() or ["no traceback printed"])[-1]
        return f"py-bt did not work: {err}"
    return None


def held_and_reads(err, nthreads):
    m = re.search(r"(\d+) threads read, target stopped for ([\d.]+) ms",
                  err)
    r = re.search(r"(\d+) reads of the target's memory", err)
    assert m, f"no timing in: {err!r}"
    assert int(m[1]) == nthreads + 1, f"{m[1]} threads read"
    # Builds before the read count (for figures before and after).
    return float(m[2]), int(r[1]) if r else None


def main_series(a, pyfault, python):
    """The alternating series on the 51-thread target."""
    proc, version = start_target(python, NTHREADS)
    pid = proc.pid
    try:
        _, out, _ = timed([pyfault, str(pid)], pid, 60)
        check_dump(out, NTHREADS)
        austin, austin_deep = a.austin, None
        try:
            austin_deep = austin_shows(austin, pid) if austin else None
        except RuntimeError:
            # 3.7.0 reads no Python newer than it (3.14).
            austin = None
            print(f"austin skipped: {a.austin} -w cannot read Python "
                  f"{version}")
        gdb_skip = gdb_skip_reason(python, pid)
        series = {"pyfault-attach": [], "pyfault-attach -v": []}
        if austin:
            series["austin -w"] = []
        if gdb_skip is None:
            series["gdb thread apply all py-bt"] = []
        cpus = {tool: [] for tool in series}

        def measure(tool, cmd, timeout=60):
            ms, cpu = timed_devnull(cmd, pid, timeout)
            series[tool].append(ms)
            cpus[tool].append(cpu)

        held, reads = [], []
        for i in range(a.runs):
            measure("pyfault-attach", [pyfault, str(pid)])
            if austin:
                measure("austin -w", [austin, "-w", str(pid)])
            ms, _, err = timed([pyfault, "-v", str(pid)], pid, 60)
            series["pyfault-attach -v"].append(ms)
            h, n = held_and_reads(err, NTHREADS)
            held.append(h)
            reads.append(n)
            if gdb_skip is None and i < a.gdb_runs:
                measure("gdb thread apply all py-bt",
                        gdb_cmd(pid, "thread apply all py-bt"), 300)
        gdb_deep = None
        if gdb_skip is None:
            _, out, _ = timed(gdb_cmd(pid, "thread apply all py-bt"), pid,
                              300)
            gdb_deep = deep_threads(out.split("\nThread ")[1:],
                                    r", in park$")
    finally:
        # Always kill and reap the target, even on errors or Ctrl-C.
        proc.kill()
        proc.wait()
    return (version, series, cpus, held, reads, austin_deep, gdb_skip,
            gdb_deep)


def native_series(a, pyfault, python):
    """--native against plain attach on the 20-thread target."""
    proc, _ = start_target(python, NATIVE_THREADS - 1)
    pid = proc.pid
    try:
        plain, native = [], []
        for _ in range(a.runs):
            plain.append(timed_devnull([pyfault, str(pid)], pid, 60)[0])
            native.append(timed_devnull([pyfault, "--native", str(pid)],
                                        pid, 60)[0])
    finally:
        proc.kill()
        proc.wait()
    return plain, native


def by_cpu_medians(series, cpus):
    """{tool: {cpu: (median ms, runs)}} of the tools timed with their
    CPU."""
    result = {}
    for tool, on in cpus.items():
        medians = {}
        for cpu in sorted(set(on)):
            xs = [ms for ms, c in zip(series[tool], on) if c == cpu]
            medians[cpu] = (statistics.median(xs), len(xs))
        if medians:
            result[tool] = medians
    return result


def verdict(value, goal):
    return "met" if value <= goal else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=None,
                    help="the target's interpreter (default: pyenv's 3.12 "
                         "when present, else /usr/bin/python3)")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--gdb-runs", type=int, default=3)
    ap.add_argument("--austin", help="an austin 3.7.0 executable")
    ap.add_argument("--pyfault", default=os.path.join(
        HERE, "..", "src", "pyfault-attach"))
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    python = a.python or default_python()
    pyfault = os.path.normpath(a.pyfault)
    if a.austin:
        v = subprocess.run([a.austin, "--version"], capture_output=True,
                           text=True).stdout.strip()
        if not v.startswith("austin 3.7"):
            ap.error(f"--austin {a.austin} is {v or 'not austin'}, "
                     "not austin 3.7.0")

    # SIGTERM/SIGHUP would end the bench without running finally blocks;
    # turn them into SystemExit so the targets are still killed and reaped.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    (version, series, cpus, held, reads, austin_deep, gdb_skip,
     gdb_deep) = main_series(a, pyfault, python)
    plain, native = native_series(a, pyfault, python)

    base = statistics.median(series["pyfault-attach"])
    print(f"target: {python} (Python {version}), {NTHREADS} threads x "
          f"{DEPTH} frames + main thread; one alternating series of "
          f"{a.runs} rounds")
    print(f"check:  pyfault's dump shows {NTHREADS + 1} threads, "
          f"{NTHREADS} of them >= {DEPTH} frames deep")
    if austin_deep is not None:
        print(f"        austin -w showed {austin_deep} threads >= {DEPTH} "
              "park frames deep")
    if gdb_deep is not None:
        print(f"        gdb showed {gdb_deep} threads >= {DEPTH} park "
              "frames deep")
    print(f"\n{'tool (wall ms)':30} {'runs':>4} {'min':>8} {'median':>8} "
          f"{'max':>8} {'x pyfault':>10}")
    for tool, xs in series.items():
        med = statistics.median(xs)
        print(f"{tool:30} {len(xs):4} {min(xs):8.2f} {med:8.2f} "
              f"{max(xs):8.2f} {med / base:10.2f}")
    if gdb_skip:
        print(f"gdb skipped: {gdb_skip}")
    if not a.austin:
        print("austin skipped: no --austin build given")
    by_cpu = by_cpu_medians(series, cpus)
    if len({c for medians in by_cpu.values() for c in medians}) > 1:
        print("\nwall by the CPU each run ended on (median ms, runs):")
        for tool, medians in by_cpu.items():
            print(f"  {tool:28} " + "  ".join(
                f"cpu{c} {med:6.2f} ({n:2})"
                for c, (med, n) in sorted(medians.items())))

    med_held = statistics.median(held)
    print(f"\npyfault held the target: median {med_held:.3f} ms (min "
          f"{min(held):.3f}, max {max(held):.3f}), "
          f"{med_held / (NTHREADS + 1) * 1e3:.1f} us a thread")
    med_plain, med_native = statistics.median(plain), statistics.median(
        native)
    print(f"{NATIVE_THREADS} threads: plain {med_plain:.2f} ms, --native "
          f"{med_native:.2f} ms (medians of {a.runs})")

    print("\ngoals (issue 11):")
    if "austin -w" in series:
        ratio = base / statistics.median(series["austin -w"])
        # The minima: what each costs when nothing else runs, the medians
        # of a loaded machine being mostly its scheduler's.
        low = min(series["pyfault-attach"]) / min(series["austin -w"])
        print(f"  wall vs austin -w: {ratio:.3f}x (goal <= "
              f"{GOALS['wall']}x): {verdict(ratio, GOALS['wall'])}; "
              f"minima {low:.3f}x")
        austin_cpus = by_cpu.get("austin -w", {})
        if len(austin_cpus) > 1:
            cpu, (fastest, n) = min(austin_cpus.items(),
                                    key=lambda item: item[1][0])
            print(f"    against austin -w on the CPU it ran fastest on "
                  f"(cpu{cpu}, {n} runs): {base / fastest:.3f}x")
    print(f"  target held: {med_held:.3f} ms (goal <= {GOALS['held_ms']} "
          f"ms): {verdict(med_held, GOALS['held_ms'])}")
    if None in reads:
        print("  reads: not counted by this pyfault-attach")
    else:
        med_reads = statistics.median(reads)
        print(f"  reads of its memory: {med_reads:.0f} (goal <= "
              f"{GOALS['reads']}): {verdict(med_reads, GOALS['reads'])}")
    nratio = med_native / med_plain
    print(f"  --native vs plain: {nratio:.2f}x (goal <= {GOALS['native']}x)"
          f": {verdict(nratio, GOALS['native'])}")
    load = os.getloadavg()
    print(f"\nmachine: nproc {len(os.sched_getaffinity(0))}, load "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, kernel "
          f"{platform.release()} {platform.machine()}, target Python "
          f"{version}")


if __name__ == "__main__":
    main()
