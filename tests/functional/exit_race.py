"""The exit race, shared by test_attach.py and test_stress.py.

A target (exit_race_target.py) ends in one of WAYS while pyfault dumps it,
idle and with a busy process on every core (start_cpu_load), which widens
every window of the race.  A pyfault command must then return, never
hang; the drivers turn a hang into a failure after TIMEOUT.

To see what pyfault leaves behind while it still runs (the kernel lets
every tracee go when its tracer exits, so afterwards there is nothing to
see), its stdout and stderr are pipes filled up beforehand: its first
write, after it has released the target, blocks until the driver reads.
Stdlib only; Python 3.8+.
"""
import fcntl
import os
import select
import signal
import subprocess
import time

from pyinterps import TIMEOUT, Fail, Resources, start_cpu_load, task_states

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "exit_race_target.py")
F_SETPIPE_SZ = 1031
SYS_WRITE = 1                   # x86_64
# (name, --how of the target or the signal the driver sends, the target's
# returncode)
WAYS = [
    ("sys.exit", "sys.exit", 0),
    ("os._exit", "os._exit", 0),
    ("worker-os._exit", "worker-os._exit", 0),
    ("main-returns", "main-returns", 0),
    ("leader-exits", "leader-exits", 0),
    ("SIGKILL", signal.SIGKILL, -signal.SIGKILL),
    ("SIGTERM", signal.SIGTERM, -signal.SIGTERM),
]
# The ways that run Python's finalization: caught at its very end, with no
# thread state left, a target that is still alive is shutting down (10).
FINALIZING = {"sys.exit", "main-returns"}
# pyfault's waits for a traced thread give up after 5 s (PF_PROC_WAIT_MS
# in src/process/proc_ctl.h): a run that lasts that long waited out a wait that
# the target's end should have ended.
PYFAULT_WAIT_LIMIT = 5.0


def start_target(res, python, way, log):
    """Starts the target for way; returns (process, go_fd).  The target
    is ready (its threads started) on return."""
    ready_r, ready_w = res.pipe()
    go_r, go_w = res.pipe()
    how = way[1] if isinstance(way[1], str) else "signal"
    with open(log, "wb") as logf:
        proc = res.popen([python, TARGET, "--how", how, "--ready-fd",
                          str(ready_w), "--go-fd", str(go_r)],
                         pass_fds=[ready_w, go_r], stdout=logf,
                         stderr=logf)
    res.close(ready_w)
    res.close(go_r)
    ready, _, _ = select.select([ready_r], [], [], TIMEOUT)
    if not ready or os.read(ready_r, 1) != b"r":
        raise Fail("the exit-race target (%s) did not start; log:\n%s" % (
            way[0], open(log, "rb").read()[-2000:]))
    return proc, go_w


def end_target(res, pid, go_fd, way):
    """Makes the target end as way says, now."""
    if isinstance(way[1], str):
        res.close(go_fd)
    else:
        os.kill(pid, way[1])


def spin_until(when):
    """Busy-waits: a sleep would add the scheduler's latency."""
    while time.monotonic() < when:
        pass


def full_pipe(res):
    """A pipe whose buffer is full: (read end, write end, bytes in it)."""
    r, w = res.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    os.set_blocking(w, False)
    filled = 0
    try:
        while True:
            filled += os.write(w, b"\0" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    return r, w, filled


def blocked_writing(pid):
    """Whether pid sleeps in write(2) to its stdout or stderr."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            fields = f.read().split()
    except OSError:
        return False
    return (len(fields) > 1 and fields[0] == str(SYS_WRITE)
            and int(fields[1], 16) in (1, 2))


def wait_blocked_or_done(proc, started, what, target_pid):
    """Waits until proc blocks writing its output or exits; True if it
    blocked.  A proc still at work after TIMEOUT hangs: a failure."""
    while True:
        if proc.poll() is not None:
            return False
        if blocked_writing(proc.pid):
            return True
        if time.monotonic() > started + TIMEOUT:
            raise Fail("%s: %s hung: neither finished nor wrote anything "
                       "in %d s (threads of the target: %s)" % (
                           what, os.path.basename(proc.args[0]), TIMEOUT,
                           describe_tasks(target_pid)))
        time.sleep(0.001)


def describe_tasks(pid):
    found = task_states(pid)
    if not found:
        return "none left"
    return ", ".join("%d %s traced by %d" % (tid, state, tracer)
                     for tid, (state, tracer) in sorted(found.items()))


def check_released(target_pid, tracer_pid, what):
    """No thread of the target may still be traced by tracer_pid: neither
    held nor an ended thread left unreaped."""
    kept = {tid: st for tid, (st, tracer) in task_states(target_pid).items()
            if tracer == tracer_pid}
    if kept:
        raise Fail("%s: done with the target, pyfault (pid %d) still "
                   "traces %d of its threads: %s" % (
                       what, tracer_pid, len(kept),
                       describe_tasks(target_pid)))


def drain(fds, fills, started, what):
    """Reads the pipes to their end; each one's data past its filling."""
    data = {fd: b"" for fd in fds}
    open_fds = list(fds)
    while open_fds:
        left = started + 2 * TIMEOUT - time.monotonic()
        ready, _, _ = select.select(open_fds, [], [], max(left, 0))
        if not ready:
            raise Fail("%s: the output never ended" % what)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                data[fd] += chunk
            else:
                open_fds.remove(fd)
    return [data[fd][fill:] for fd, fill in zip(fds, fills)]


def check_target_end(proc, way, what):
    """The target ends as it would have without pyfault."""
    try:
        status = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Fail("%s: the target did not end (left stopped? %s)" % (
            what, describe_tasks(proc.pid)))
    if status != way[2]:
        raise Fail("%s: the target ended with %d, not %d" % (
            what, status, way[2]))


def run_races(full, runs, run_one):
    """Calls run_one(interp, way, n, what, busy) for n in range(runs), the
    first half idle, the second with a busy process on every core (busy:
    their pids); seven runs in a row take the seven ways on one
    interpreter.  run_one returns a word to count.  Returns the summary:
    runs, pairs of interpreter and way covered, and the counts."""
    seen, pairs = {}, set()
    for loaded in (False, True):
        label = "loaded" if loaded else "idle"
        load = Resources()
        try:
            if loaded:
                start_cpu_load(load)
            busy = {proc.pid for proc in load.procs}
            for n in range(runs // 2, runs) if loaded else range(runs // 2):
                interp = full[n // len(WAYS) % len(full)]
                way = WAYS[n % len(WAYS)]
                what = "%s run %d (%s, %s)" % (label, n, interp.label,
                                               way[0])
                key = "%s %s" % (label, run_one(interp, way, n, what, busy))
                seen[key] = seen.get(key, 0) + 1
                pairs.add((interp.label, way[0]))
        finally:
            load.release()
    return "%d runs (%d of the %d interpreter and way pairs): %s" % (
        runs, len(pairs), len(full) * len(WAYS),
        ", ".join("%s x%d" % kv for kv in sorted(seen.items())))
