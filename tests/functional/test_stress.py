#!/usr/bin/env python3
"""Hardening tests: pyfault under hostile timing, interruption and refusal.

    python3 tests/functional/test_stress.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch

Live stress.  tests/functional/stress_target.py runs 20 threads in blocking
system calls (read, poll, select, futex, nanosleep, condition waits, a
contended lock) while two of them create and join short-lived threads
without pause; pyfault-attach dumps it --cycles times.  Every run must
succeed; after every batch no thread may be stopped or traced; at the end
the target checks what it computed and that no call saw EINTR, a short
count or an early timeout.  A control run (the target signals its own
threads) shows that the target does see EINTR when there is one.

Interruption.  SIGINT, SIGTERM, SIGHUP and SIGPIPE reach pyfault-attach
(a) after a random delay (seeded; the seed is printed) counted from the
moment Popen returns, which is when exec has succeeded (subprocess waits
on its close-on-exec pipe), or, for SIGPIPE, by closing its output pipe;
(b) deterministically, injected by strace on entry to the K-th system call
of pyfault-attach for every K (every --inject-stride-th; all in
bench/stress_bench.py), so that every phase is hit: reading the target's
files, stopping its threads, reading its memory, detaching, writing.  As
the kernel detaches a dead tracer's threads anyway, strace's record of
each run must also show that pyfault-attach detached every thread it
seized before the signal ended it.  Each time pyfault-attach must end by that
signal (or finish, if it came too late), and the target must be running
and detached.

Watch under pressure.  The program killed by SIGKILL from outside; the
watcher killed by SIGKILL at random points and, through strace, at its
K-th system call (the program must go on or, if it had not started yet,
exit, never stay stopped; a signal the watcher held for a dump is lost
only when strace's record shows it died holding it); a program that forks
--forks children (same output and status as alone; no zombie, nothing
left stopped).  Orphans come to this driver, a child subreaper.  The exit
race (exit_race.py): --watch-races programs, on every interpreter, end in
each way they can while pyfault-watch dumps them (every 3 ms, or on
SIGUSR1), half of them with every core busy; pyfault-watch must end with
the program's status, print only its own one-line messages, and leave
nothing behind.

A process stopped by SIGSTOP is dumped and stays stopped, untraced.

Permissions and security.  A target traced by strace and by gdb (status
11, naming the tracer); a set-user-ID program and a process that dropped
its privileges, seen by an unprivileged pyfault (13); Yama's scope, live
only where the machine has Yama with a scope that can refuse (else
skipped: tests/unit/test_trace_refusal covers every scope); PID 1 of a
new PID namespace, from outside and inside; pyfault-attach given its own
PID (2); a symbolic link planted in a sticky shared directory (refused);
output files created 0600 and appended to; and, from strace's record,
that pyfault-attach starts no process, opens the target's memory
read-only and makes no ptrace request that writes or runs anything.

Stdlib only; Python 3.8+.  The last line is "N passed, N failed[, N
skipped]".
"""
import ctypes
import fcntl
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import exit_race
import pyinterps
from test_attach import wait_all_sleeping
from pyinterps import (TIMEOUT, Fail, Skip, Resources, expect_byte,
                       proc_stat)

HERE = os.path.dirname(os.path.abspath(__file__))
STRESS_TARGET = os.path.join(HERE, "stress_target.py")
PREFIX = b"pyfault-attach: "
PR_SET_CHILD_SUBREAPER = 36
F_SETPIPE_SZ = 1031
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]
INTERRUPTS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE]
# A pyfault-attach that cannot stop its work never may hold the target:
# these are the only ptrace requests it may make.
PTRACE_ALLOWED = {"PTRACE_SEIZE", "PTRACE_INTERRUPT", "PTRACE_GETREGS",
                  "PTRACE_DETACH"}

ATTACH = WATCH = OPTS = TMPDIR = None
# For runs under strace: LeakSanitizer cannot work in a traced process
# (a --enable-sanitizers build would fail for that alone).
TRACED_ENV = dict(os.environ, ASAN_OPTIONS=":".join(
    filter(None, [os.environ.get("ASAN_OPTIONS"), "detect_leaks=0"])))
FIGURES = []        # (what, figure), printed at the end


def figure(what, value):
    FIGURES.append((what, value))
    print("    %s: %s" % (what, value))


# ----------------------------------------------------------------- target --

def task_states(pid):
    """{tid: (state, TracerPid)} of pid's threads; those that end while
    they are read are left out."""
    states = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return states
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                text = f.read()
        except OSError:
            continue
        state = re.search(r"^State:\s+(\S)", text, re.M).group(1)
        tracer = int(re.search(r"^TracerPid:\s+(\d+)", text, re.M).group(1))
        states[int(tid)] = (state, tracer)
    return states


def check_released(pid, what):
    held = {tid: st for tid, st in task_states(pid).items()
            if st[1] != 0 or st[0] in "tT"}
    if held:
        raise Fail("%s: threads of %d left stopped or traced: %s" % (
            what, pid, ", ".join("%d (state %s, TracerPid %d)" % (
                tid, st[0], st[1]) for tid, st in sorted(held.items()))))


class StressTarget:
    """stress_target.py, running once constructed."""

    def __init__(self, res, interp, control=False):
        self.res = res
        self.rfd, wfd = res.pipe()
        sfd, self.stop_fd = res.pipe()
        cmd = [interp.path, STRESS_TARGET, "--ready-fd", str(wfd),
               "--stop-fd", str(sfd)]
        if control:
            cmd.append("--control")
        self.proc = res.popen(cmd, pass_fds=[wfd, sfd],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        res.close(wfd)
        res.close(sfd)
        self.pid = self.proc.pid
        expect_byte(self.rfd, b"r", "the stress target to start")
        self.options = offsets_option(interp, self.pid)

    def alive(self, what):
        if self.proc.poll() is not None:
            raise Fail("%s: the target died (status %d): %r" % (
                what, self.proc.returncode, self.proc.stderr.read()))

    def finish(self):
        """Stops the target; its result line and stderr."""
        self.res.close(self.stop_fd)
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Fail("the stress target did not stop (threads: %r)" %
                       task_states(self.pid))
        m = re.match(rb"result (\S+) iterations=(\d+) threads=(\d+) "
                     rb"eintr=(\d+) early=(\d+) mismatches=(\d+)\n$", out)
        if not m:
            raise Fail("the stress target printed %r, stderr %r" % (out, err))
        return m, self.proc.returncode, err


def offsets_option(interp, pid):
    """The shipped table when it describes this build: the stress is about
    ptrace, and reading DWARF would make each run 100 times longer."""
    out = subprocess.run([ATTACH, "--offsets=table", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         timeout=TIMEOUT)
    return ["--offsets=table"] if out.returncode == 0 else []


def stress_interp(full):
    for interp in full:
        if "/usr/bin/python3" in [interp.path] + interp.aliases:
            return interp
    return full[0]


def run_attach(args, pre=(), **kw):
    cmd = list(pre) + [ATTACH] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              timeout=TIMEOUT, **kw)
    except subprocess.TimeoutExpired:
        raise Fail("`%s` hung" % " ".join(cmd))


def check_error(out, status, what, must_contain=()):
    if out.returncode != status:
        raise Fail("%s: expected status %d, got %d; stderr %r" % (
            what, status, out.returncode, out.stderr))
    err = out.stderr
    if not err.startswith(PREFIX) or err.count(b"\n") != 1 \
            or not err.endswith(b"\n"):
        raise Fail("%s: stderr must be one line starting with %r: %r" % (
            what, PREFIX.decode(), err))
    for text in must_contain:
        if text.encode() not in err:
            raise Fail("%s: the message should mention %r: %r" % (
                what, text, err))
    print("    %s -> %d: %s" % (what, status, err.decode().rstrip()))
    FIGURES.append(("bad input: " + what, "status %d" % status))


# ----------------------------------------------------------------- stress --

def t_stress(interp):
    res = Resources()
    try:
        target = StressTarget(res, interp)
        statuses = {}
        batch = 25
        threads_seen = []
        started = time.monotonic()
        for n in range(OPTS.cycles):
            out = run_attach(target.options + [target.pid])
            statuses[out.returncode] = statuses.get(out.returncode, 0) + 1
            if out.returncode != 0:
                raise Fail("cycle %d: status %d, stderr %r" % (
                    n, out.returncode, out.stderr))
            headers = len(re.findall(rb"^(?:Current thread|Thread) 0x",
                                     out.stdout, re.M))
            if headers < 21:
                raise Fail("cycle %d: %d threads dumped, at least 21 run: %r"
                           % (n, headers, out.stdout[:2000]))
            threads_seen.append(headers)
            if n % batch == batch - 1 or n == OPTS.cycles - 1:
                target.alive("cycle %d" % n)
                check_released(target.pid, "after cycle %d" % n)
        elapsed = time.monotonic() - started
        m, status, err = target.finish()
        if status != 0 or m.group(1) != b"ok":
            raise Fail("the target's result after %d cycles: %s; %r" % (
                OPTS.cycles, m.group(0).decode().strip(), err))
        figure("attach/dump/detach cycles survived (%s)" % interp.label,
               "%d of %d in %.1f s, %d-%d threads per dump; target: %s" % (
                   statuses.get(0, 0), OPTS.cycles, elapsed,
                   min(threads_seen), max(threads_seen),
                   m.group(0).decode().strip()))
    finally:
        res.release()


def t_stress_control(interp):
    """The target's checks can fail: signals it sends its own threads
    (through a handler without SA_RESTART) do give EINTR."""
    res = Resources()
    try:
        target = StressTarget(res, interp, control=True)
        expect_byte(target.rfd, b"c", "the control signals to be sent")
        m, status, _ = target.finish()
        if int(m.group(4)) == 0 or status != 1:
            raise Fail("signals sent to every thread went unseen: %s, "
                       "status %d" % (m.group(0).decode().strip(), status))
        print("    control: %s" % m.group(0).decode().strip())
    finally:
        res.release()


# ----------------------------------------------------------- interruption --

def signal_name(signo):
    return signal.Signals(signo).name


def t_interrupt_random(interp):
    seed = OPTS.seed if OPTS.seed is not None else random.randrange(2 ** 32)
    rng = random.Random(seed)
    print("    seed %d (--seed %d repeats this run)" % (seed, seed))
    res = Resources()
    try:
        target = StressTarget(res, interp)
        # How long a run lasts, to spread the signals over all of it.
        durations = []
        for _ in range(5):
            t0 = time.monotonic()
            run_attach(target.options + [target.pid])
            durations.append(time.monotonic() - t0)
        span = 1.5 * sorted(durations)[2]
        tally = {}
        for n in range(OPTS.interrupts):
            kind = rng.choice(INTERRUPTS + ["closed-pipe"])
            delay = rng.uniform(0, span)
            proc = subprocess.Popen([ATTACH] + target.options +
                                    [str(target.pid)],
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            # A dump (about 7 kB) overflows a one-page pipe: pyfault
            # blocks writing until the pipe is read or closed.
            try:
                fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, 4096)
            except OSError:
                pass
            spin_until = time.monotonic() + delay
            while time.monotonic() < spin_until:
                pass
            if kind == "closed-pipe":
                proc.stdout.close()
                expected = -signal.SIGPIPE
                proc.stdout = None
            else:
                proc.send_signal(kind)
                expected = -kind
            try:
                _, err = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise Fail("run %d (%s after %.6f s): pyfault-attach hung" % (
                    n, kind, delay))
            name = kind if isinstance(kind, str) else signal_name(kind)
            if proc.returncode not in (0, expected):
                raise Fail("run %d (%s after %.6f s): status %d, stderr %r" % (
                    n, name, delay, proc.returncode, err))
            outcome = "completed" if proc.returncode == 0 else "killed"
            tally[(name, outcome)] = tally.get((name, outcome), 0) + 1
            target.alive("run %d (%s after %.6f s)" % (n, name, delay))
            check_released(target.pid, "run %d (%s after %.6f s)" % (
                n, name, delay))
        m, status, err = target.finish()
        if status != 0:
            raise Fail("the target's result: %s; %r" % (
                m.group(0).decode().strip(), err))
        figure("random interruption points tried (seed %d)" % seed,
               "%d: %s" % (OPTS.interrupts, ", ".join(
                   "%s %s %d" % (k[0], k[1], v)
                   for k, v in sorted(tally.items()))))
    finally:
        res.release()


def syscall_record(target, strace):
    """The system calls of one run of pyfault-attach, in order, and the
    positions of its first seize and last detach."""
    log = os.path.join(TMPDIR, "strace-count.log")
    out = subprocess.run([strace, "-qq", "-o", log, ATTACH] + target.options +
                         [str(target.pid)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, timeout=TIMEOUT,
                         env=TRACED_ENV)
    if out.returncode != 0:
        raise Fail("pyfault-attach under strace: status %d, %r" % (
            out.returncode, out.stderr))
    with open(log) as f:
        calls = [m.group(1) for m in map(re.compile(r"(\w+)\(").match, f)
                 if m]
    with open(log) as f:
        lines = [line for line in f if re.match(r"\w+\(", line)]
    seize = next(i for i, c in enumerate(lines)
                 if c.startswith("ptrace(PTRACE_SEIZE"))
    detach = max(i for i, c in enumerate(lines)
                 if c.startswith("ptrace(PTRACE_DETACH"))
    return calls, seize, detach


def check_all_detached(log, where):
    """The kernel detaches a dead tracer's threads anyway: only strace's
    record tells that pyfault-attach released each one itself, with its
    pending signal, before the signal ended it."""
    with open(log) as f:
        text = f.read()
    seized = len(re.findall(r"^ptrace\(PTRACE_SEIZE, .*= 0$", text, re.M))
    detached = len(re.findall(r"^ptrace\(PTRACE_DETACH, .*= 0$", text,
                              re.M))
    # Threads that ended while held need no detach.
    ended = len(re.findall(r"^wait4\(.*W(?:IFEXITED|IFSIGNALED)", text,
                           re.M))
    ended += len(re.findall(r"^ptrace\(PTRACE_INTERRUPT, .*= -1 ESRCH",
                            text, re.M))
    if detached + ended < seized or "+++ killed by" not in text:
        raise Fail("%s: %d threads seized, %d detached, %d ended: the "
                   "signal ended pyfault-attach while it held the target; "
                   "strace's record ends:\n%s" % (
                       where, seized, detached, ended, text[-1500:]))


def t_interrupt_inject(interp):
    strace = shutil.which("strace")
    if not strace:
        raise Skip("strace not installed: no deterministic injection")
    res = Resources()
    try:
        target = StressTarget(res, interp)
        calls, seize, detach = syscall_record(target, strace)
        print("    %d system calls; threads held from call %d to %d" % (
            len(calls), seize + 1, detach + 1))
        # strace counts each system call on its own: the K-th read is
        # "inject=read:when=K".
        seen = {}
        points = []
        for i, name in enumerate(calls):
            seen[name] = seen.get(name, 0) + 1
            if i % OPTS.inject_stride == 0:
                points.append((i, name, seen[name]))
        tried = {}
        for i, name, nth in points:
            sig = INTERRUPTS[i % len(INTERRUPTS)]
            where = "%s at the %d-th %s (call %d)" % (signal_name(sig), nth,
                                                     name, i + 1)
            log = os.path.join(TMPDIR, "inject.log")
            out = subprocess.run(
                [strace, "-qq", "-o", log, "-e",
                 "inject=%s:signal=%s:when=%d" % (name, signal_name(sig),
                                                  nth), ATTACH] +
                target.options + [str(target.pid)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=TIMEOUT, env=TRACED_ENV)
            # Threads come and go: a run may make fewer calls of a kind.
            if out.returncode not in (-sig, 0):
                raise Fail("%s: status %d, stderr %r" % (
                    where, out.returncode, out.stderr))
            phase = ("before the hold" if i < seize else
                     "holding" if i <= detach else "after the hold")
            if out.returncode:
                check_all_detached(log, where)
            key = (phase, "killed" if out.returncode else "not reached")
            tried[key] = tried.get(key, 0) + 1
            target.alive(where)
            check_released(target.pid, where)
        m, status, err = target.finish()
        if status != 0:
            raise Fail("the target's result: %s; %r" % (
                m.group(0).decode().strip(), err))
        figure("interruption points injected at system calls (strace; "
               "every %d-th call)" % OPTS.inject_stride,
               "%d of %d calls: %s" % (len(points), len(calls), ", ".join(
                   "%s %d %s" % (k[0], v, k[1])
                   for k, v in sorted(tried.items()))))
    finally:
        res.release()


# -------------------------------------------------------- watch, pressure --

def orphans(ignore=()):
    """Processes this driver inherited as subreaper, and its children but
    those in ignore: [(pid, state)]."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in ignore:
            st = proc_stat(int(entry))
            if st and st[1] == os.getpid():
                found.append((int(entry), st[0]))
    return found


def wait_orphan(pid, what):
    """Waits for an orphan to end; its status.  Fails if it is stopped."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return status
        st = proc_stat(pid)
        if st and st[0] in "tT":
            raise Fail("%s: the program %d is left stopped (state %s)" % (
                what, pid, st[0]))
        if time.monotonic() > deadline:
            raise Fail("%s: the program %d did not end (state %s)" % (
                what, pid, st[0] if st else "?"))
        time.sleep(0.002)


def reap_leftovers(ignore=()):
    for pid, state in orphans(ignore):
        if state != "Z":
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# Works for a while in four threads, then writes "done".  With "crash" it
# dies of SIGSEGV instead.
WATCHED = r"""
import os, sys, threading, time
os.write(1, b"pid %d\n" % os.getpid())
def work():
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:
        sum(range(1000))
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
if sys.argv[1] == "crash":
    import ctypes; ctypes.string_at(0)
os.write(1, b"done\n")
"""


def t_watch_program_killed(interp):
    res = Resources()
    try:
        proc = res.popen([WATCH, "--", interp.path, "-c",
                          "import os, sys\nos.write(1, b'pid %d\\n' % "
                          "os.getpid())\nsys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        line = proc.stdout.readline()
        pid = int(line.split()[1])
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=TIMEOUT)
        if proc.returncode != -signal.SIGKILL or err:
            raise Fail("program killed by SIGKILL: pyfault-watch status %d "
                       "(expected -9), stderr %r" % (proc.returncode, err))
        if orphans():
            raise Fail("left behind: %r" % orphans())
    finally:
        res.release()
        reap_leftovers()


# The program ends this long at most after the dumps have been asked for.
WATCH_RACE_WINDOW = 0.008


def child_of(pid):
    """The one child of pid, or None."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st and st[1] == pid:
                return int(entry)
    return None


def watch_race_once(interp, way, by_signal, n, rng, what, load):
    """pyfault-watch dumps a program (every 3 ms, or on SIGUSR1) while it
    ends as way says.  load: the pids of the busy processes."""
    res = Resources()
    try:
        ready_r, ready_w = res.pipe()
        go_r, go_w = res.pipe()
        dumps = os.path.join(TMPDIR, "watch-race-%d.txt" % n)
        how = way[1] if isinstance(way[1], str) else "signal"
        watch = res.popen(
            [WATCH, "-o", dumps] + ([] if by_signal else ["-t", "0.003",
                                                         "--repeat"])
            + ["--", interp.path, exit_race.TARGET, "--how", how,
               "--ready-fd", str(ready_w), "--go-fd", str(go_r)],
            pass_fds=[ready_w, go_r], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        res.close(ready_w)
        res.close(go_r)
        expect_byte(ready_r, b"r", "%s: the program to start" % what)
        program = child_of(watch.pid)
        if program is None:
            raise Fail("%s: no program under pyfault-watch" % what)
        delay = rng.uniform(0, WATCH_RACE_WINDOW)
        what += ", ended %.1f ms after %s" % (
            delay * 1e3, "the dump request" if by_signal
            else "it was ready, with dumps every 3 ms")
        started = time.monotonic()
        if by_signal:
            os.kill(watch.pid, signal.SIGUSR1)
        exit_race.spin_until(started + delay)
        exit_race.end_target(res, program, go_w, way)
        try:
            _, err = watch.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Fail("%s: pyfault-watch hung (threads of the program: %s)"
                       % (what, exit_race.describe_tasks(program)))
        if watch.returncode != way[2]:
            raise Fail("%s: pyfault-watch ended with %d, not the program's "
                       "%d; stderr %r" % (what, watch.returncode, way[2],
                                          err[-500:]))
        stray = [line for line in err.splitlines()
                 if not line.startswith(b"pyfault-watch: ")]
        if stray:
            raise Fail("%s: stray lines on stderr: %r" % (what, stray[:5]))
        if orphans(load):
            raise Fail("%s: left behind: %r" % (what, orphans(load)))
        return err.count(b"\n")
    finally:
        res.release()
        reap_leftovers(load)


def t_watch_exit_race(full):
    """The program ends, in every way it can, while pyfault-watch dumps it,
    on every interpreter, idle and under load (exit_race.run_races); the
    dumps come every 3 ms in even runs, on SIGUSR1 in odd ones."""
    rng = random.Random()

    def run_one(interp, way, n, what, busy):
        by_signal = n % 2 == 1
        what += ", %s" % ("SIGUSR1" if by_signal else "timeout dumps")
        lines = watch_race_once(interp, way, by_signal, n, rng, what, busy)
        return "with messages" if lines else "silent"

    figure("pyfault-watch, program ended during dumps, none hung",
           exit_race.run_races(full, OPTS.watch_races, run_one))


def t_watch_requests_at_end(interp):
    """Dump requests (SIGUSR1) sent without pause to pyfault-watch from the
    program's start to pyfault-watch's end: one that comes as the program
    ends has nothing left to dump and must not end pyfault-watch, which
    ends with the program's status."""
    requests = 0
    for n in range(OPTS.watch_request_runs):
        res = Resources()
        try:
            watch = res.popen([WATCH, "--", interp.path, "-c",
                               "import os; os.write(1, b'r'); os._exit(3)"],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
            expect_byte(watch.stdout.fileno(), b"r", "the program to start")
            sent = 0
            while watch.poll() is None:
                try:
                    os.kill(watch.pid, signal.SIGUSR1)
                    sent += 1
                except ProcessLookupError:
                    break
            status = watch.wait(timeout=TIMEOUT)
            if status != 3:
                raise Fail("run %d: pyfault-watch ended with %d, not the "
                           "program's 3, after %d dump requests" % (
                               n, status, sent))
            requests += sent
        finally:
            res.release()
    figure("pyfault-watch runs with SIGUSR1 sent until it ended",
           "%d (%d requests), each with the program's status" % (
               OPTS.watch_request_runs, requests))


def t_watch_killed(interp):
    seed = OPTS.seed if OPTS.seed is not None else random.randrange(2 ** 32)
    rng = random.Random(seed)
    print("    seed %d" % seed)
    tally = {}
    for n in range(OPTS.watch_kills):
        kind = "crash" if n % 2 else "work"
        delay = rng.uniform(0, 0.25)
        res = Resources()
        try:
            # Dumps every 20 ms: the watcher is often holding the
            # program when it dies.
            proc = res.popen([WATCH, "-t", "0.02", "--repeat", "-o",
                              os.devnull, "--", interp.path, "-c", WATCHED,
                              kind], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
            spin_until = time.monotonic() + delay
            while time.monotonic() < spin_until:
                pass
            proc.kill()
            proc.wait()
            what = "run %d (%s, watcher killed after %.4f s)" % (n, kind,
                                                                 delay)
            found = [pid for pid, _ in orphans()]
            statuses = [wait_orphan(pid, what) for pid in found]
            out = proc.stdout.read()
            started = re.match(rb"pid (\d+)\n", out)
            # Only the program's status counts: a sanitizer build of
            # pyfault-watch killed as it exits leaves an orphan of its own
            # (LeakSanitizer's tracer, which dies of SIGKILL with it).
            mine = [status for pid, status in zip(found, statuses)
                    if pid == int(started.group(1))] if started \
                else statuses[:1]
            if not mine:
                outcome = "program already over"
                if b"done" not in out and kind == "work" \
                        and b"pid" in out:
                    raise Fail("%s: the program vanished before it was "
                               "done: %r" % (what, out))
            else:
                status = mine[0]
                if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1 \
                        and b"pid" not in out:
                    outcome = "program not started"
                elif kind == "work" and os.WIFEXITED(status) and \
                        os.WEXITSTATUS(status) == 0:
                    outcome = "program went on"
                    if not out.endswith(b"done\n"):
                        raise Fail("%s: output %r" % (what, out))
                elif kind == "crash" and os.WIFSIGNALED(status) and \
                        os.WTERMSIG(status) == signal.SIGSEGV:
                    outcome = "program went on"
                else:
                    raise Fail("%s: the program ended with wait status "
                               "0x%x; output %r" % (what, status, out))
            tally[outcome] = tally.get(outcome, 0) + 1
        finally:
            res.release()
            reap_leftovers()
    figure("pyfault-watch killed by SIGKILL (seed %d)" % seed,
           "%d runs: %s" % (OPTS.watch_kills, ", ".join(
               "%s %d" % kv for kv in sorted(tally.items()))))


# Every kind of event a watcher handles, in a fixed order: threads, a
# child process, a signal dumped with --signal USR2 --chain.
EVENTFUL = r"""
import os, signal, sys, threading
seen = []
signal.signal(signal.SIGUSR2, lambda signo, frame: seen.append(signo))
os.write(1, b"pid %d\n" % os.getpid())
threads = [threading.Thread(target=sum, args=(range(10000),))
           for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
pid = os.fork()
if pid == 0:
    os._exit(3)
os.waitpid(pid, 0)
signal.raise_signal(signal.SIGUSR2)
os.write(1, b"done, handler ran %d time(s)\n" % len(seen))
"""


def died_holding_signal(log, name):
    """Whether strace's record shows the watcher killed after it saw the
    program stop for signal name and before it let the signal go on (a
    PTRACE_CONT killed on entry does not run)."""
    with open(log) as f:
        text = f.read()
    last_stop = text.rfind("WSTOPSIG(s) == %s}" % name)
    return "+++ killed by SIGKILL" in text and last_stop >= 0 and not \
        re.search(r"PTRACE_CONT, \d+, NULL, %s\) = 0" % name,
                  text[last_stop:])


def run_watch_killed(cmd, where):
    """Runs cmd, a pyfault-watch that strace kills, until its output ends;
    then (its status, that output, the program's orphaned PIDs, their wait
    statuses), every leftover reaped."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=TRACED_ENV)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        # The program holds the output open: stopped, if not running.
        raise Fail("%s: the output never ended; processes left: %r" % (
            where, orphans()))
    try:
        found = [pid for pid, _ in orphans()]
        statuses = [wait_orphan(pid, where) for pid in found]
    finally:
        reap_leftovers()
    return proc.returncode, out, found, statuses


def t_watch_killed_inject(interp):
    """SIGKILL injected by strace into pyfault-watch at its system calls:
    launching, following threads and the child, dumping, exiting."""
    strace = shutil.which("strace")
    if not strace:
        raise Skip("strace not installed: no deterministic injection")
    watch = [WATCH, "--signal", "USR2", "--chain", "-o", os.devnull, "--",
             interp.path, "-c", EVENTFUL]
    log = os.path.join(TMPDIR, "watch-count.log")
    out = subprocess.run([strace, "-qq", "-o", log] + watch,
                         stdout=subprocess.PIPE, timeout=TIMEOUT,
                         env=TRACED_ENV)
    done = b"done, handler ran 1 time(s)\n"
    if out.returncode != 0 or not out.stdout.endswith(done):
        raise Fail("pyfault-watch under strace: status %d, %r" % (
            out.returncode, out.stdout))
    with open(log) as f:
        calls = [m.group(1) for m in map(re.compile(r"(\w+)\(").match, f)
                 if m]
    seen, points = {}, []
    for i, name in enumerate(calls):
        seen[name] = seen.get(name, 0) + 1
        if i % OPTS.watch_inject_stride == 0:
            points.append((i, name, seen[name]))
    tally = {}
    for i, name, nth in points:
        where = "SIGKILL at the %d-th %s (call %d)" % (nth, name, i + 1)
        run_log = os.path.join(TMPDIR, "watch-inject.log")
        returncode, out, found, statuses = run_watch_killed(
            [strace, "-qq", "-o", run_log, "-e",
             "inject=%s:signal=KILL:when=%d" % (name, nth)] + watch, where)
        if returncode == 0:
            outcome = "not reached"
        elif not found and not out:
            outcome = "program not started"
        elif not found:
            outcome = "program over"
        elif os.WIFEXITED(statuses[0]) and \
                os.WEXITSTATUS(statuses[0]) == 1 and not out:
            outcome = "program not started"
        elif os.WIFEXITED(statuses[0]) and statuses[0] == 0:
            outcome = "program went on"
        else:
            raise Fail("%s: the program ended with wait status 0x%x, "
                       "output %r" % (where, statuses[0], out))
        # The signal (SIGUSR2) must reach the program's handler, unless the
        # watcher died holding it in its signal-delivery-stop: the kernel
        # discards it then (see pyfault-watch(1)).
        if outcome == "program went on" and out.endswith(
                b"done, handler ran 0 time(s)\n") and \
                died_holding_signal(run_log, "SIGUSR2"):
            outcome = "program went on, SIGUSR2 lost with the watcher"
        elif outcome not in ("program not started", "not reached") \
                and not out.endswith(done):
            raise Fail("%s: the program's output %r" % (where, out))
        tally[outcome] = tally.get(outcome, 0) + 1
    figure("pyfault-watch killed by SIGKILL at system calls (strace; every "
           "%d-th call)" % OPTS.watch_inject_stride,
           "%d of %d calls: %s" % (len(points), len(calls), ", ".join(
               "%s %d" % kv for kv in sorted(tally.items()))))


def links_libpython(interp):
    """Whether interp's executable takes the interpreter from a shared
    libpython, which the dynamic loader maps."""
    out = subprocess.run([interp.path, "-c", "import sys; sys.stdout.write("
                          "open('/proc/self/maps').read())"],
                         stdout=subprocess.PIPE, timeout=TIMEOUT)
    return b"/libpython" in out.stdout


def t_watch_killed_loading(interp):
    """SIGKILL injected by strace into pyfault-watch at each of its ptrace
    calls while it steps through the system calls of the dynamic loader of a
    program that links libpython: the program runs on as if never
    watched (no trap of ours is left in it)."""
    strace = shutil.which("strace")
    if not strace:
        raise Skip("strace not installed: no deterministic injection")
    if not links_libpython(interp):
        raise Skip("links no shared libpython: no loader to step through")
    said = b"went on\n"
    watch = [WATCH, "--", interp.path, "-c", "print('went on')"]
    log = os.path.join(TMPDIR, "watch-loading.log")
    out = subprocess.run([strace, "-qq", "-e", "trace=ptrace", "-o", log]
                         + watch, stdout=subprocess.PIPE, timeout=TIMEOUT,
                         env=TRACED_ENV)
    if out.returncode != 0 or out.stdout != said:
        raise Fail("pyfault-watch under strace: status %d, %r" % (
            out.returncode, out.stdout))
    with open(log) as f:
        requests = [line.split("(", 1)[1].split(",", 1)[0]
                    for line in f if line.startswith("ptrace(")]
    if "PTRACE_SYSCALL" not in requests:
        raise Fail("the loader's system calls were not stepped: %r"
                   % requests)
    # Up to the first request after the last step: the program let go.
    last = len(requests) - requests[::-1].index("PTRACE_SYSCALL") + 1
    points = list(range(1, last + 1, OPTS.watch_inject_stride))
    if points[-1] != last:
        points.append(last)
    tally = {}
    for nth in points:
        where = "SIGKILL at the %d-th ptrace (%s)" % (nth, requests[nth - 1])
        _, out, found, statuses = run_watch_killed(
            [strace, "-qq", "-o", os.devnull, "-e", "trace=ptrace", "-e",
             "inject=ptrace:signal=KILL:when=%d" % nth] + watch, where)
        if not found:
            raise Fail("%s: the program ended with the watcher" % where)
        if os.WIFEXITED(statuses[0]) and statuses[0] == 0 and out == said:
            outcome = "program went on"
        elif os.WIFEXITED(statuses[0]) and \
                os.WEXITSTATUS(statuses[0]) == 1 and not out:
            outcome = "program not started"
        else:
            raise Fail("%s: the program ended with wait status 0x%x, "
                       "output %r" % (where, statuses[0], out))
        tally[outcome] = tally.get(outcome, 0) + 1
    figure("pyfault-watch killed by SIGKILL while the loader runs (strace; "
           "every %d-th call)" % OPTS.watch_inject_stride,
           "%d of the first %d of %d ptrace calls (%d steps): %s" % (
               len(points), last, len(requests), requests.count("PTRACE_SYSCALL"),
               ", ".join("%s %d" % kv for kv in sorted(tally.items()))))


FORKER = r"""
import os, sys
n = int(sys.argv[1])
bad = 0
alive = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        os.write(1, b"child %d\n" % i)
        os._exit(i % 256)
    alive.append((pid, i))
    if len(alive) == 20 or i == n - 1:
        for pid, j in alive:
            _, status = os.waitpid(pid, 0)
            if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != j % 256:
                bad += 1
        alive = []
left = []
for entry in os.listdir("/proc"):
    try:
        with open("/proc/%s/stat" % entry) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IOError, IndexError):  # 2.7's open() raises IOError
        continue
    if int(fields[1]) == os.getpid():
        left.append("%s:%s" % (entry, fields[0]))
os.write(1, b"forked %d, wrong statuses %d, children left %r\n" % (
    n, bad, left))
sys.exit(7)
"""


FORK_RUNS = 8


def t_watch_forks(interp):
    res = Resources()
    try:
        cmd = [interp.path, "-c", FORKER, str(OPTS.forks)]
        alone = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=TIMEOUT)
        want = b"forked %d, wrong statuses 0, children left []\n" % OPTS.forks
        if alone.returncode != 7 or not alone.stdout.endswith(want):
            raise Fail("alone: status %d, end of output %r" % (
                alone.returncode, alone.stdout[-200:]))
        # Several runs: pyfault-watch used its process entry after a fork
        # event had grown (moved) the table, and crashed in about one run
        # of four, as the events happened to come.
        for run in range(1, FORK_RUNS + 1):
            started = time.monotonic()
            watched = subprocess.run([WATCH, "--"] + cmd,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     timeout=TIMEOUT * 3)
            elapsed = time.monotonic() - started
            if watched.returncode != 7 or watched.stderr:
                raise Fail("watched run %d: status %d (expected 7), stderr "
                           "%r" % (run, watched.returncode, watched.stderr))
            if sorted(watched.stdout.splitlines()) != \
                    sorted(alone.stdout.splitlines()):
                raise Fail("watched run %d: output differs: %r" % (
                    run, watched.stdout[-300:]))
            if orphans():
                raise Fail("left behind: %r" % orphans())
        figure("short-lived children under pyfault-watch",
               "%d forked, statuses and output intact, no zombie, %.2f s"
               % (OPTS.forks, elapsed))
    finally:
        res.release()
        reap_leftovers()


# --------------------------------------------------------------- security --

BLOCKED = "import os, sys\nos.write(1, b'r')\nsys.stdin.read()\n"


def blocked_python(res, argv, pre=(), **kw):
    proc = res.popen(list(pre) + list(argv), stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, **kw)
    expect_byte(proc.stdout.fileno(), b"r", "%s to start" % argv[0])
    return proc


def end_blocked(proc, what):
    proc.stdin.close()
    if proc.wait(timeout=TIMEOUT) != 0:
        raise Fail("%s: the target exited with %d" % (what,
                                                      proc.returncode))


def wait_traced(pid, what):
    deadline = time.monotonic() + TIMEOUT
    while True:
        with open("/proc/%d/status" % pid) as f:
            tracer = int(re.search(r"TracerPid:\s+(\d+)", f.read()).group(1))
        if tracer:
            return tracer
        if time.monotonic() > deadline:
            raise Fail("%s never attached" % what)
        time.sleep(0.002)


def t_stopped_target(interp):
    """A process stopped by SIGSTOP is dumped and left as it was: stopped,
    untraced, and running again on SIGCONT."""
    res = Resources()
    try:
        proc = blocked_python(res, [interp.path, "-c", BLOCKED])
        os.kill(proc.pid, signal.SIGSTOP)
        os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WNOWAIT)
        out = run_attach([proc.pid])
        if out.returncode != 0 or b"in <module>" not in out.stdout:
            raise Fail("stopped process: status %d, stdout %r, stderr %r" %
                       (out.returncode, out.stdout, out.stderr))
        # Released, a thread runs for a moment to re-enter its group-stop.
        deadline = time.monotonic() + TIMEOUT
        while True:
            states = task_states(proc.pid)
            if all(st == ("T", 0) for st in states.values()):
                break
            if time.monotonic() > deadline:
                raise Fail("a process stopped before the dump must stay "
                           "stopped and untraced: %r" % states)
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGCONT)
        end_blocked(proc, "stopped process")
    finally:
        res.release()


def t_traced_by(interp, tool):
    path = shutil.which(tool)
    if not path:
        raise Skip("%s not installed" % tool)
    res = Resources()
    try:
        proc = blocked_python(res, [interp.path, "-c", BLOCKED])
        if tool == "strace":
            cmd = [path, "-qq", "-o", os.devnull, "-p", str(proc.pid)]
        else:
            # gdb holds the target stopped until its shell command ends,
            # which is when this driver closes its stdin.
            cmd = [path, "-q", "-nx", "-batch", "-p", str(proc.pid),
                   "-ex", "shell head -c1"]
        tracer = res.popen(cmd, stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        tracer_pid = wait_traced(proc.pid, tool)
        out = run_attach([proc.pid])
        check_error(out, 11, "target traced by %s" % tool,
                    ["already traced by %s (process %d)" % (tool,
                                                           tracer_pid)])
        if tool == "strace":
            tracer.send_signal(signal.SIGINT)
        else:
            tracer.stdin.close()
        tracer.wait(timeout=TIMEOUT)
        check_released(proc.pid, "after %s left" % tool)
        end_blocked(proc, "traced by %s" % tool)
    finally:
        res.release()


def need_root_and_setpriv():
    if os.geteuid() != 0:
        raise Skip("needs root to start targets as other users")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv (util-linux) not found")
    return setpriv


def as_nobody(setpriv, args):
    out = run_attach(args, pre=[setpriv] + NOBODY)
    if out.returncode == 126 and not out.stderr.startswith(PREFIX):
        raise Skip("user nobody cannot execute %s" % ATTACH)
    return out


def t_setuid_program(interp):
    setpriv = need_root_and_setpriv()
    res = Resources()
    try:
        # A set-user-ID root copy of the interpreter, run by nobody: real
        # user nobody, effective user root.  (Where the file system is
        # mounted nosuid, the bit is ignored and the case cannot be made.)
        suid_dir = tempfile.mkdtemp(dir=TMPDIR)
        os.chmod(suid_dir, 0o755)
        python = os.path.join(suid_dir, "python-suid")
        shutil.copy(os.path.realpath(interp.path), python)
        os.chmod(python, 0o4755)
        proc = blocked_python(res, [python, "-c", BLOCKED],
                              pre=[setpriv] + NOBODY)
        with open("/proc/%d/status" % proc.pid) as f:
            uids = re.search(r"Uid:\s+(\d+)\s+(\d+)", f.read()).groups()
        if uids != ("65534", "0"):
            raise Skip("the set-user-ID bit had no effect (uids %r): "
                       "nosuid mount?" % (uids,))
        out = as_nobody(setpriv, [proc.pid])
        check_error(out, 13, "set-user-ID program, pyfault as its real user",
                    ["set-user-ID", "run pyfault as root"])
        end_blocked(proc, "set-user-ID program")
    finally:
        res.release()


def t_dropped_privileges(interp):
    setpriv = need_root_and_setpriv()
    res = Resources()
    try:
        drop = ("import os\nos.setgroups([])\nos.setresgid(65534, 65534, "
                "65534)\nos.setresuid(65534, 65534, 65534)\n")
        proc = blocked_python(res, [interp.path, "-c", drop + BLOCKED])
        out = as_nobody(setpriv, [proc.pid])
        check_error(out, 13, "daemon that dropped root to nobody, pyfault "
                    "as nobody", ["privileges dropped"])
        # Root may: the refusal was the kernel's, not pyfault's guess.
        out = run_attach([proc.pid])
        if out.returncode != 0:
            raise Fail("root could not dump it: %d %r" % (out.returncode,
                                                          out.stderr))
        end_blocked(proc, "dropped privileges")
    finally:
        res.release()


def t_other_user(interp):
    setpriv = need_root_and_setpriv()
    res = Resources()
    try:
        proc = blocked_python(res, [interp.path, "-c", BLOCKED])
        out = as_nobody(setpriv, [proc.pid])
        check_error(out, 4, "root's process, pyfault as nobody",
                    ["runs as user 0 and pyfault as user 65534"])
        end_blocked(proc, "other user")
    finally:
        res.release()


def t_yama(interp):
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read())
    except OSError:
        raise Skip("no Yama on this kernel (every scope's message is "
                   "checked by tests/unit/test_trace_refusal)")
    if scope == 0:
        raise Skip("kernel.yama.ptrace_scope is 0 here: nothing to refuse "
                   "(messages checked by tests/unit/test_trace_refusal)")
    setpriv = need_root_and_setpriv()
    res = Resources()
    try:
        # nobody's process, not a child of pyfault: scopes 1 to 3 refuse.
        proc = blocked_python(res, [interp.path, "-c", BLOCKED],
                              pre=[setpriv] + NOBODY)
        out = as_nobody(setpriv, [proc.pid])
        check_error(out, 12, "kernel.yama.ptrace_scope %d" % scope,
                    ["ptrace_scope is %d" % scope])
        end_blocked(proc, "Yama")
    finally:
        res.release()


def t_pid_namespace(interp):
    unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
    if os.geteuid() != 0 or not unshare or not nsenter:
        raise Skip("needs root, unshare and nsenter")
    res = Resources()
    try:
        proc = res.popen([unshare, "--pid", "--fork", "--mount-proc",
                          interp.path, "-c",
                          "import os, sys\nos.write(1, b'%d\\n' % "
                          "os.getpid())\nsys.stdin.read()\n"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = proc.stdout.readline()
        if line != b"1\n":
            raise Fail("the program in the namespace says its PID is %r"
                       % line)
        # unshare forked it: find its PID out here.
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            host_pid = int(f.read().split()[0])
        # Its PID written, the program goes on to line 3's read().
        wait_all_sleeping(host_pid)
        outside = run_attach([host_pid])
        inside = run_attach([1], pre=[nsenter, "--target", str(host_pid),
                                      "--pid", "--mount"])
        for out, what in ((outside, "from outside (PID %d)" % host_pid),
                          (inside, "from inside (PID 1)")):
            if out.returncode != 0 or not re.match(
                    rb"Thread 0x[0-9a-f]{16} \(most recent call first\):\n"
                    rb"  File \"<string>\", line 3 in <module>\n$",
                    out.stdout):
                raise Fail("PID 1 of a PID namespace %s: status %d, stdout "
                           "%r, stderr %r" % (what, out.returncode,
                                              out.stdout, out.stderr))
        check_released(host_pid, "PID 1 of a namespace")
        print("    PID 1 of a new PID namespace: dumped from outside and "
              "from inside")
        own = run_attach([1], pre=[unshare, "--pid", "--fork",
                                   "--mount-proc"])
        check_error(own, 2, "PID 1 in its own new PID namespace (itself)",
                    ["pyfault-attach itself"])
        elsewhere = run_attach([host_pid], pre=[unshare, "--pid", "--fork",
                                                "--mount-proc"])
        check_error(elsewhere, 3, "a PID of the parent PID namespace",
                    ["another PID namespace"])
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)
    finally:
        res.release()


def t_output_symlink(interp):
    setpriv = need_root_and_setpriv()
    res = Resources()
    try:
        shared = os.path.join(TMPDIR, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)        # like /tmp
        victim = os.path.join(TMPDIR, "victim")
        with open(victim, "wb") as f:
            f.write(b"precious\n")
        planted = os.path.join(shared, "dump.txt")
        subprocess.run([setpriv] + NOBODY + ["ln", "-s", victim, planted],
                       check=True, timeout=TIMEOUT)
        proc = blocked_python(res, [interp.path, "-c", BLOCKED])
        out = run_attach(["-o", planted, proc.pid])
        check_error(out, 1, "-o naming a symbolic link planted in a "
                    "sticky directory", ["symbolic link"])
        with open(victim, "rb") as f:
            if f.read() != b"precious\n":
                raise Fail("the link's target was written to")
        end_blocked(proc, "planted link")
    finally:
        res.release()


def t_output_mode(interp):
    res = Resources()
    old = os.umask(0)
    try:
        proc = blocked_python(res, [interp.path, "-c", BLOCKED])
        path = os.path.join(TMPDIR, "created.txt")
        first = run_attach(["-o", path, proc.pid])
        mode = stat.S_IMODE(os.stat(path).st_mode)
        second = run_attach(["-o", path, proc.pid])
        with open(path, "rb") as f:
            data = f.read()
        if first.returncode or second.returncode or mode != 0o600:
            raise Fail("-o with umask 0: statuses %d %d, mode %o (expected "
                       "600)" % (first.returncode, second.returncode, mode))
        if data.count(b"Thread 0x") != 2:
            raise Fail("the second dump did not append to the first: %r"
                       % data)
        end_blocked(proc, "output mode")
    finally:
        os.umask(old)
        res.release()


def t_read_only(interp):
    """From strace's record: no process started, the target's memory opened
    read-only, and only ptrace requests that stop, read registers and
    detach."""
    strace = shutil.which("strace")
    if not strace:
        raise Skip("strace not installed")
    res = Resources()
    try:
        proc = blocked_python(res, [interp.path, "-c", BLOCKED])
        log = os.path.join(TMPDIR, "read-only.log")
        out = subprocess.run(
            [strace, "-f", "-qq", "-o", log, "-e",
             "trace=%process,ptrace,openat,open,pwrite64,pwritev,pwritev2,"
             "process_vm_writev", ATTACH, str(proc.pid)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
            env=TRACED_ENV)
        if out.returncode != 0:
            raise Fail("under strace: status %d, %r" % (out.returncode,
                                                        out.stderr))
        with open(log) as f:
            calls = [line.split(None, 1)[1] for line in f
                     if re.match(r"\d+ +\w+\(", line)]
        problems = []
        execs = [c for c in calls if c.startswith("exec")]
        if len(execs) != 1 or ATTACH not in execs[0]:
            problems.append("exec calls: %r" % execs)
        for c in calls:
            name = c.split("(", 1)[0]
            if name in ("fork", "vfork", "clone", "clone3", "pwrite64",
                        "pwritev", "pwritev2", "process_vm_writev"):
                problems.append(c.strip())
            elif name == "ptrace" and c[7:].split(",", 1)[0] \
                    not in PTRACE_ALLOWED:
                problems.append(c.strip())
            elif "/proc/%d/mem" % proc.pid in c and "O_RDONLY" not in c:
                problems.append(c.strip())
        if not any("/proc/%d/mem" % proc.pid in c for c in calls):
            problems.append("the target's memory was never opened (is "
                            "strace's record complete?)")
        if problems:
            raise Fail("pyfault-attach did more than read: %s" %
                       "; ".join(problems[:10]))
        print("    %d calls traced: one exec (its own), no fork or clone, "
              "ptrace only %s, /proc/%d/mem O_RDONLY" % (
                  len(calls), "/".join(sorted(PTRACE_ALLOWED)), proc.pid))
        end_blocked(proc, "read-only")
    finally:
        res.release()


# ------------------------------------------------------------------ main ----

def stress_options(parser):
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--interrupts", type=int, default=200)
    parser.add_argument("--inject-stride", type=int, default=2,
                        help="signal pyfault-attach at every N-th call")
    parser.add_argument("--watch-inject-stride", type=int, default=4,
                        help="kill pyfault-watch at every N-th call")
    parser.add_argument("--watch-kills", type=int, default=20)
    parser.add_argument("--forks", type=int, default=1000)
    parser.add_argument("--watch-request-runs", type=int, default=50)
    parser.add_argument("--watch-races", type=int, default=154,
                        help="runs of pyfault-watch whose program ends "
                        "while it is dumped (half of them under load)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--all-interpreters", action="store_true",
                        help="stress and interrupt every interpreter, not "
                        "only Debian's python3")


def make_tests(suite):
    global ATTACH, WATCH, OPTS, TMPDIR
    ATTACH, WATCH, OPTS = suite.attach, suite.watch, suite.opts
    TMPDIR = suite.tmpdir
    os.chmod(TMPDIR, 0o755)     # nobody must reach the shared directory
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise Fail("cannot become a child subreaper")
    full = suite.full
    main_interp = stress_interp(full)
    stressed = full if OPTS.all_interpreters else [main_interp]
    print("stress, interruption and watch tests on %s; security tests on %s"
          % (", ".join(i.label for i in stressed), main_interp.label))

    tests = pyinterps.per_interp(stressed, [
        ("stress attach/dump/detach cycles", t_stress),
        ("stress self-test: EINTR is seen", t_stress_control),
        ("interrupt at random points", t_interrupt_random),
        ("interrupt at every system call (strace)", t_interrupt_inject),
        ("watch program killed by SIGKILL", t_watch_program_killed),
        ("watch dump requests until it ends", t_watch_requests_at_end),
        ("watch watcher killed by SIGKILL", t_watch_killed),
        ("watch watcher killed at every system call (strace)",
         t_watch_killed_inject),
        ("watch %d forks" % OPTS.forks, t_watch_forks)])
    # The loader maps libpython only for an interpreter linking it, not
    # Debian's python3.
    loading = full if OPTS.all_interpreters else [
        next((x for x in full if links_libpython(x)), main_interp)]
    tests += pyinterps.per_interp(loading, [
        ("watch watcher killed while the loader runs (strace)",
         t_watch_killed_loading)])
    tests.append(("watch program ends during dumps",
                  lambda: t_watch_exit_race(full), None))
    i = main_interp
    return tests + [
        ("stopped process stays stopped", lambda: t_stopped_target(i), i),
        ("security traced by strace", lambda: t_traced_by(i, "strace"), i),
        ("security traced by gdb", lambda: t_traced_by(i, "gdb"), i),
        ("security another user", lambda: t_other_user(i), i),
        ("security set-user-ID program", lambda: t_setuid_program(i), i),
        ("security dropped privileges", lambda: t_dropped_privileges(i), i),
        ("security yama ptrace_scope", lambda: t_yama(i), i),
        ("security PID namespaces", lambda: t_pid_namespace(i), i),
        ("security output symlink refused", lambda: t_output_symlink(i), i),
        ("security output 0600, appended", lambda: t_output_mode(i), i),
        ("security only reads the target", lambda: t_read_only(i), i),
    ]


def print_figures():
    reap_leftovers()
    print("== figures ==")
    for what, value in FIGURES:
        print("  %s: %s" % (what, value))


def main():
    return pyinterps.suite_main(__doc__, "pyfault-stress-", make_tests,
                                options=stress_options, keep=False,
                                cleanup=print_figures)


if __name__ == "__main__":
    sys.exit(main())
