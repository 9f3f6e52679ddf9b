#!/usr/bin/env python3
"""Functional tests of pyfault-watch against every CPython on this machine.

    python3 tests/functional/test_watch.py --watch src/pyfault-watch [--keep]

The oracle is the real faulthandler of the same interpreter.  Each scenario
runs a program of tests/functional/watch_targets.py twice: as
`python -X faulthandler watch_targets.py ...` (or arming
faulthandler.dump_traceback_later itself), and as
`pyfault-watch ... -- python watch_targets.py ...` without faulthandler.
The two outputs must be identical except for the values of the thread ids,
which differ between processes: every program prints, on stdout, the ident
of each of its threads under a name, and both outputs have each id replaced
by the name of its thread (ids nobody named are numbered by first
appearance), so which thread a dump marks "Current" still has to match.
See the docstring of watch_targets.py for why the frames cannot depend on
timing.

Timeouts without races.  pyfault-watch's timer starts when it runs the
program, so a dump could in principle come before the program has parked its
threads.  The program writes READY on its stderr, which is also where
pyfault-watch writes its dumps, just before blocking on a line whose frames
no longer change; the order of the two in that single pipe is the order of
the writes.  Anything of pyfault-watch's that comes first (a dump, or a
message about a Python still starting) was taken too early: that attempt is
discarded and the scenario runs again with the timeout doubled (at most two
retries, reported on the output).  This assumes that pyfault-watch writes a
dump while the program is still stopped for it, or at least after reading
everything it prints, which it must do anyway.  The oracle needs no such
care: the program arms faulthandler's timer only after writing READY, with
exit=True, so the oracle process ends right after its complete dump.  A
program under --repeat is let go (stdin closed: it returns and exits 0) once
two dumps have arrived; only the dumps started before that are compared.

No fixed sleeps: every wait is on a pipe (READY, dumps, end of output) or on
the exit of a process.  Programs that block do so reading their stdin, so
closing it (as Resources does in any case) ends them.  The driver makes
itself a child subreaper: a program that pyfault-watch leaves behind becomes
its child, is reported as a failure, then killed and reaped.  pyfault-watch
runs with the hard RLIMIT_CORE as its soft limit, so that a core dump of its
own (the contract forbids one) would show; the programs set theirs to 0.

Also checked: exit statuses and signals reach the program and come back
unchanged (compared with the program run alone), the errors and usage of
pyfault-watch itself, and on Python older than 2.7 or 3.6, if any is found
(no dump possible), that the status still passes through with one line on
stderr instead of a dump.

Python 2.7 has no faulthandler, and its backport cannot be installed here:
its fatal-signal oracle is the program itself, writing the backport's dump
from its own frames just before it faults (watch_targets.py
--backport-oracle, backport_format.py); the scenarios whose oracle needs
other faulthandler functions are skipped on 2.7 with the reason.

Dumps on request, and their oracles:
  * --current-thread-only on a fatal signal: faulthandler.enable(
    all_threads=False), called by the program (no -X faulthandler).
  * --signal SIG [--chain]: faulthandler.register(SIG, chain=...) in the
    oracle run.  The program sends SIG to itself with a thread-directed
    call (raise_signal, pthread_kill), so the receiving thread, current in
    both dumps, is known; in one variant it goes to a thread parked in
    sigsuspend() that does not hold the GIL.  It reports how often its own
    Python handler ran: never without --chain, once with it.
  * SIGUSR1 sent to pyfault-watch: faulthandler.register(SIGUSR1) with the
    signal sent to the program, whose main thread, the only one that can
    take it, spins holding the GIL on one line (current in both dumps); it
    tells the driver so with os.kill(), which keeps the GIL, of READY_SIG,
    a byte on a wakeup fd here.  With every thread blocked (waited for in
    /proc, polling: no primitive tells it), no thread is current: the
    oracle's "Current thread" becomes "Thread".
  * multiprocessing children (fork, spawn) that crash: "Process PID:" then
    the dump of faulthandler.enable() called in the child of the oracle run.
  * a program alone again after a shell ran 20 short children for it
    crashes: no "Process PID:" header, in 20 runs under a busy loop per
    CPU (start_cpu_load; stopped with the test).
Job control (Ctrl-Z, fg; Ctrl-Z, bg, a terminal read in the background,
fg; Ctrl-C) runs in an interactive bash in a
pseudo-terminal, with and without pyfault-watch, on Debian's python3 only;
every step waits for a pattern in the terminal's output.

Options:
  --watch PATH         the pyfault-watch binary (or $PYFAULT_WATCH)
  --keep               keep the temporary directory
  --only SUBSTRING     run only the tests whose name contains SUBSTRING
                       (repeatable)
  --json               run the per-interpreter scenarios that dump (not the
                       fidelity ones, which write no dump) with --format json:
                       every document is checked against the schema
                       (json_check.py) and its dumps compared with the
                       oracle's in a canonical form (thread ids, current
                       thread, frames, headers, extension modules);
                       test_watch_json.py runs this pass for make check

Stdlib only; runs on Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import ctypes
import glob
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time

import json_check
import pyinterps
from pyinterps import TIMEOUT, Fail, Resources, Skip, proc_stat

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "watch_targets.py")
PREFIX = b"pyfault-watch: "
READY = b"target: ready\n"
ABOUT_TO_CRASH = b"target: about to crash\n"
ABOUT_TO_SIGNAL = b"target: about to signal\n"
STACK_HEADER = b"Stack (most recent call first):\n"
TIMEOUT_HEADER = b"Timeout ("
FATAL = {"segv": signal.SIGSEGV, "fpe": signal.SIGFPE, "ill": signal.SIGILL,
         "abrt": signal.SIGABRT, "bus": signal.SIGBUS}
FATAL_NAMES = {"segv": [b"Segmentation fault"],
               "fpe": [b"Floating point exception",
                       b"Floating-point exception"],
               "ill": [b"Illegal instruction"], "abrt": [b"Aborted"],
               "bus": [b"Bus error"]}
PR_SET_CHILD_SUBREAPER = 36
# Sent once by a program whose main thread spins holding the GIL for good;
# a no-op handler with a wakeup fd (WAKE_FD) turns it into a byte to read.
READY_SIG = signal.SIGRTMIN + 2

WATCH = None
TMPDIR = None
SCRATCH = None          # cwd of the watched programs; must stay free of cores
SUBREAPER = False       # programs orphaned by pyfault-watch come to us
CORE_LIMIT = None       # soft RLIMIT_CORE given to pyfault-watch, or None
WAKE_FD = None          # read end of the wakeup fd of READY_SIG
# --json: the scenarios again with --format json, each document checked
# against the schema and its dumps compared with the oracle's in the
# canonical form of json_check.py.
JSON_PASS = False
# Nothing in the environment may turn faulthandler on in the watched runs.
CHILD_ENV = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONFAULTHANDLER", "PYTHONDEVMODE")}


# ------------------------------------------------------------- processes ----

def allow_core():
    # In the child, before exec: pyfault-watch must suppress its own core
    # dump even where it could write one.
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (CORE_LIMIT, CORE_LIMIT))


class Child:
    """A started process whose stdout and stderr this driver reads."""

    def __init__(self, res, cmd, stdin=False, env=None, core=False,
                 sigchld_ignored=False):
        self.cmd = [str(c) for c in cmd]

        def before_exec():
            if core and CORE_LIMIT:
                allow_core()
            if sigchld_ignored:
                signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        self.proc = res.popen(
            self.cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=CHILD_ENV if env is None else env, cwd=SCRATCH,
            preexec_fn=before_exec)
        self.pid = self.proc.pid
        self.bufs = {1: bytearray(), 2: bytearray()}
        self.open = {self.proc.stdout.fileno(): 1,
                     self.proc.stderr.fileno(): 2}
        self.si_code = None
        self.returncode = None

    @property
    def stdout(self):
        return bytes(self.bufs[1])

    @property
    def stderr(self):
        return bytes(self.bufs[2])

    def name(self):
        return "`%s`" % " ".join(os.path.basename(c) if c in (TARGET, WATCH)
                                 else c for c in self.cmd)

    def describe(self):
        return "%s: status %s, stdout %r, stderr %r" % (
            self.name(), self.returncode, self.stdout[-1500:],
            self.stderr[-3000:])

    def pump(self, until, what, timeout=TIMEOUT, must=True):
        """Reads both streams until until(self) holds; False (or Fail when
        must) if they end or the time runs out first."""
        deadline = time.monotonic() + timeout
        while not until(self):
            remaining = deadline - time.monotonic()
            if not self.open or remaining <= 0:
                if not must:
                    return False
                raise Fail("%s while waiting for %s; %s" % (
                    "output ended" if not self.open else
                    "timeout (%d s)" % timeout, what, self.describe()))
            ready, _, _ = select.select(list(self.open), [], [], remaining)
            for fd in ready:
                self.take(fd)
        return True

    def take(self, fd):
        """Reads what one of the two streams has (select said so)."""
        data = os.read(fd, 65536)
        if data:
            self.bufs[self.open[fd]] += data
        else:
            del self.open[fd]

    def feed(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def finish(self):
        """Reads both streams to their end, then reaps; the status."""
        self.pump(lambda c: not c.open, "the end of the output")
        deadline = time.monotonic() + TIMEOUT
        while True:
            info = os.waitid(os.P_PID, self.pid,
                             os.WEXITED | os.WNOWAIT | os.WNOHANG)
            if info is not None and info.si_pid == self.pid:
                self.si_code = info.si_code
                break
            if time.monotonic() > deadline:
                raise Fail("%s closed its output but did not exit within "
                           "%d s" % (self.name(), TIMEOUT))
            time.sleep(0.005)
        self.returncode = self.proc.wait(timeout=TIMEOUT)
        return self.returncode


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


class WatchResources(Resources):
    """Resources, plus the programs pyfault-watch leaves behind.

    This driver is a child subreaper: a program whose pyfault-watch exited
    becomes its child, so it can be found (parent PID), killed and reaped
    by PID without any risk of hitting a recycled PID."""

    def orphans(self):
        mine = {p.pid for p in self.procs}
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in mine:
                st = proc_stat(int(entry))
                if st and st[1] == os.getpid():
                    found.append((int(entry), st[0]))
        return found

    def reap_orphans(self):
        """Kills and reaps every orphan; [(pid, state, cmdline, status)]."""
        result = []
        for pid, state in self.orphans():
            line = cmdline(pid)
            if state != "Z":
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = None
            result.append((pid, state, line, status))
        return result

    def check_no_program_left(self, what):
        """After pyfault-watch exited: its program must be gone too."""
        alive = [o for o in self.reap_orphans() if o[1] != "Z"]
        if alive:
            raise Fail("%s: pyfault-watch exited but left %s" % (
                what, ", ".join("PID %d (state %s: %s)" % o[:3]
                                for o in alive)))

    def release(self):
        Resources.release(self)
        # Killing an orphaned pyfault-watch orphans its program in turn.
        for _ in range(10):
            reaped = self.reap_orphans()
            if not reaped:
                break
            for pid, state, line, _ in reaped:
                if state != "Z":
                    print("  (killed PID %d left behind, state %s: %s)" % (
                        pid, state, line))


def watch_cmd(options, argv):
    if JSON_PASS:
        options = list(options) + ["--format", "json"]
    return [WATCH] + list(options) + ["--"] + list(argv)


def dump_count(err):
    """How many dumps of pyfault-watch err holds (timeouts only when it is
    faulthandler's text)."""
    return err.count(json_check.MARK if JSON_PASS else TIMEOUT_HEADER)


def json_complete(err, count=1):
    """With --json: count documents in err, the last one whole."""
    return err.count(json_check.MARK) >= count and err.endswith(b"}\n")


def run_watch(args, stdin=b"", env=None):
    """pyfault-watch ARGS run to completion: CompletedProcess."""
    cmd = [WATCH] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT,
                              cwd=SCRATCH,
                              env=CHILD_ENV if env is None else env)
    except subprocess.TimeoutExpired:
        raise Fail("`%s` hung (no exit within %d s)" % (" ".join(cmd),
                                                        TIMEOUT))


# ------------------------------------------------------------ comparison ----

THREAD_ID = re.compile(rb"0x[0-9a-f]{16}")
IDENT_LINE = re.compile(rb"^thread (\S+) (0x[0-9a-f]{16})$", re.M)
PID_LINE = re.compile(rb"^pid \d+$", re.M)
# faulthandler's C stack section (3.14+, c_stack=True by default): its
# addresses and symbols are the process's own, so only its place is
# compared: normalise leaves a placeholder line.
# A Python newer than pyfault knows is read after this line (checked by
# check_ended_like_oracle, dropped by normalise).
VERSION_WARNING = re.compile(rb"^pyfault-watch: warning: process \d+ runs "
                             rb"Python 3\.\d+, newer than any this pyfault "
                             rb"knows [^\n]*\n", re.M)
C_STACK = re.compile(rb"\nCurrent thread's C stack trace \(most recent call "
                     rb"first\):\n(?:  .*\n)*")


def normalise(child, stderr=None):
    """(stdout, stderr) of child with every thread id replaced by the name
    the program gave that thread, the others numbered by first appearance,
    with the current thread's C stack section reduced to a placeholder,
    and without pyfault's version warning."""
    names = {m.group(2): b"<thread " + m.group(1) + b">"
             for m in IDENT_LINE.finditer(child.stdout)}
    unknown = {}

    def name(m):
        value = m.group(0)
        if value in names:
            return names[value]
        if value not in unknown:
            unknown[value] = b"<unnamed thread #%d>" % (len(unknown) + 1)
        return unknown[value]

    out = PID_LINE.sub(b"pid N", child.stdout)
    err = child.stderr if stderr is None else stderr
    err = VERSION_WARNING.sub(b"", err)
    if JSON_PASS:
        try:
            err = json_check.canonical(err, "pyfault-watch")
        except (ValueError, json_check.SchemaError) as exc:
            raise Fail("%s: invalid JSON document: %s; %s" % (
                child.name(), exc, child.describe()))
    # JSON documents leave the C stacks out of the canonical form.
    err = C_STACK.sub(b"\n" if JSON_PASS else
                      b"\n<the current thread's C stack>\n", err)
    return THREAD_ID.sub(name, out), THREAD_ID.sub(name, err)


def check_same(expected, actual, what, expected_label="faulthandler"):
    pyinterps.check_same(expected, actual, what, "pyfault-watch (actual)",
                         expected_label)


def check_status(child, expected, what):
    if child.returncode != expected:
        raise Fail("%s: expected status %d, got %s" % (
            what, expected, child.describe()))


def check_no_core(child, what):
    if child.si_code == os.CLD_DUMPED:
        raise Fail("%s: pyfault-watch dumped core (si_code CLD_DUMPED)"
                   % what)
    cores = [n for n in os.listdir(SCRATCH) if n.startswith("core")]
    for name in cores:
        os.unlink(os.path.join(SCRATCH, name))
    if cores:
        raise Fail("%s: core file(s) %s appeared in the working directory"
                   % (what, ", ".join(cores)))



def check_ended_like_oracle(res, oracle, watched, status, what, interp=None):
    """The watched program ended with status, left no core of pyfault-watch
    and no process behind, and printed what the oracle run printed; with
    interp, pyfault-watch warned once if and only if it is newer than
    pyfault knows."""
    check_status(watched, status, what)
    if interp is not None:
        warnings = len(VERSION_WARNING.findall(watched.stderr))
        if warnings != (1 if interp.newer_than_known else 0):
            raise Fail("%s: %d version warnings for Python %s" % (
                what, warnings, interp.vstr))
    check_no_core(watched, what)
    res.check_no_program_left(what)
    want_out, want_err = normalise(oracle)
    got_out, got_err = normalise(watched)
    check_same(want_out, got_out, what + " (program's stdout)")
    check_same(want_err, got_err, what + " (stderr)")

def check_error_line(proc, what):
    err = proc.stderr
    if (not err.startswith(PREFIX) or not err.endswith(b"\n")
            or err.count(b"\n") != 1):
        raise Fail("%s: stderr must be one line starting with %r, got %r" % (
            what, PREFIX.decode(), err))


def target(interp, *args):
    return [interp.path, TARGET] + list(args)


def oracle_cmd(interp, *args):
    if interp.version[0] == 2:
        # No faulthandler: the program writes the backport's dump itself.
        return [interp.path, TARGET] + list(args) + ["--backport-oracle"]
    return [interp.path, "-X", "faulthandler", TARGET] + list(args)


# ------------------------------------------------------------ fatal signals --

def run_oracle_crash(res, interp, args):
    return Child(res, oracle_cmd(interp, "crash", *args))


def check_oracle_crash(oracle, kind, wants_trailer=False,
                       current_only=False):
    oracle.finish()
    if oracle.returncode != -FATAL[kind]:
        raise Fail("oracle: expected death by signal %d; %s" % (
            FATAL[kind], oracle.describe()))
    follows = STACK_HEADER if current_only else b""
    if not any(oracle.stderr.startswith(ABOUT_TO_CRASH + b"Fatal Python error"
                                        b": " + name + b"\n\n" + follows)
               for name in FATAL_NAMES[kind]):
        raise Fail("oracle: unexpected faulthandler output; %s"
                   % oracle.describe())
    listed = b"\nExtension modules: " in oracle.stderr
    if listed != wants_trailer:
        raise Fail("oracle: %s; %s" % (
            "expected an Extension modules line" if wants_trailer else
            "lists extension modules (the target must import only the "
            "standard library)", oracle.describe()))


def t_fatal(interp, kind, args=(), current_only=False):
    """current_only: pyfault-watch --current-thread-only against
    faulthandler.enable(all_threads=False), which the program calls."""
    res = WatchResources()
    try:
        argv = [kind] + list(args)
        if current_only:
            oracle = Child(res, target(interp, "crash", *argv +
                                       ["--fh-current-only"]))
        else:
            oracle = run_oracle_crash(res, interp, argv)
        options = ["--current-thread-only"] if current_only else []
        watched = Child(res, watch_cmd(options,
                                       target(interp, "crash", *argv)),
                        core=True)
        check_oracle_crash(oracle, kind, "--extensions" in args and
                           interp.version >= (3, 10), current_only)
        watched.finish()
        what = " ".join(options + ["crash"] + argv)
        check_ended_like_oracle(res, oracle, watched, -FATAL[kind], what,
                                interp)
    finally:
        res.release()


def t_fatal_no_lines(interp):
    if interp.version < (3, 11):
        raise Skip("Python %s: the target strips a 3.11+ location table"
                   % interp.vstr)
    t_fatal(interp, "segv", ["--no-lines"])


CHILD_RACE_RUNS = 20


def t_fatal_after_children(interp, runs):
    """A program that ran a shell running 20 short children, and waited for
    it, then faults alone: its dump has no "Process PID:" header, runs times
    in a row under a busy loop per CPU.  There the watcher often reaps a
    child's exit before the fork event of its parent (newer tracees come
    first), which put a child that had ended back in its tables: a header
    that followed from the tables came in most runs."""
    res = WatchResources()
    try:
        pyinterps.start_cpu_load(res)
        argv = ["segv", "--after-children"]
        oracle = run_oracle_crash(res, interp, argv)
        check_oracle_crash(oracle, "segv")
        for n in range(runs):
            watched = Child(res, watch_cmd([], target(interp, "crash",
                                                      *argv)), core=True)
            watched.finish()
            check_ended_like_oracle(
                res, oracle, watched, -signal.SIGSEGV,
                "crash segv --after-children, run %d of %d under load" % (
                    n + 1, runs), interp)
    finally:
        res.release()


def t_fatal_under_faulthandler(interp, kind):
    """-X faulthandler under pyfault-watch: faulthandler's dump, then, at
    its re-raise with the default disposition, one dump of pyfault's."""
    res = WatchResources()
    try:
        oracle = run_oracle_crash(res, interp, [kind])
        watched = Child(res, watch_cmd([], oracle_cmd(interp, "crash", kind)),
                        core=True)
        check_oracle_crash(oracle, kind)
        watched.finish()
        what = "-X faulthandler, crash %s" % kind
        check_status(watched, -FATAL[kind], what)
        check_no_core(watched, what)
        res.check_no_program_left(what)
        dump = oracle.stderr[len(ABOUT_TO_CRASH):]
        want_out, want_err = normalise(oracle, oracle.stderr + dump)
        got_out, got_err = normalise(watched)
        check_same(want_out, got_out, what + " (program's stdout)")
        check_same(want_err, got_err, what + " (stderr: faulthandler's "
                   "dump, then pyfault-watch's)")
    finally:
        res.release()


def t_output_file(interp):
    res = WatchResources()
    try:
        path = os.path.join(TMPDIR, "out-%s.txt" % interp.label)
        prefix = b"line written before pyfault-watch\n"
        with open(path, "wb") as f:
            f.write(prefix)
        oracle = run_oracle_crash(res, interp, ["segv"])
        watched = Child(res, watch_cmd(["-o", path],
                                       target(interp, "crash", "segv")),
                        core=True)
        check_oracle_crash(oracle, "segv")
        watched.finish()
        what = "-o FILE, crash segv"
        check_status(watched, -signal.SIGSEGV, what)
        res.check_no_program_left(what)
        with open(path, "rb") as f:
            data = f.read()
        want_out, want_err = normalise(oracle)
        dump = want_err[len(ABOUT_TO_CRASH):]
        got_out, got_file = normalise(watched, data)
        check_same(want_out, got_out, what + " (program's stdout)")
        check_same(ABOUT_TO_CRASH, VERSION_WARNING.sub(b"", watched.stderr),
                   what + " (stderr: the program's only)", "the program")
        check_same(prefix + dump, got_file, what + " (FILE, appended)")
    finally:
        res.release()


# --------------------------------------------------------------- timeouts ---

def t_timeout(interp, mode):
    # "fraction": a timeout that is no whole number of microseconds, which
    # 3.6 truncates and 3.7+ rounds up (doubled on a retry, it stays so).
    seconds = {"once": 0.75, "repeat": 0.5, "exit": 1.0,
               "fraction": 1.1234567}[mode]
    for attempt in range(3):
        if attempt:
            seconds *= 2
        early = timeout_attempt(interp, mode, seconds, attempt)
        if not early:
            return
    raise Fail("pyfault-watch wrote before the program was ready, in 3 "
               "attempts up to a timeout of %g s; the last: %s" % (
                   seconds, early))


def wrote_first(err):
    """Whether something else than READY came first on stderr: output of
    pyfault-watch from before the program was ready."""
    return bool(err) and not READY.startswith(err[:len(READY)])


def timeout_text(seconds):
    # -t takes what the user typed: "0.75", "1" (whole seconds), "1.5", ...
    return ("%d" % seconds) if seconds == int(seconds) else repr(seconds)


def timeout_attempt(interp, mode, seconds, attempt):
    text = timeout_text(seconds)
    option = ["-t", text] if mode not in ("once", "fraction") else [
        "--timeout", text]
    if mode == "repeat":
        option.append("--repeat")
    elif mode == "exit":
        option.append("--exit")
    what = "%s %s" % (" ".join(option), "timeout")
    dumps_wanted = 2 if mode == "repeat" else 1
    res = WatchResources()
    try:
        oracle = Child(res, target(interp, "timeout", text), stdin=True)
        watched = Child(res, watch_cmd(option, target(interp, "timeout")),
                        stdin=True)
        oracle.finish()
        if oracle.returncode != 1 or not oracle.stderr.startswith(
                READY + TIMEOUT_HEADER):
            raise Fail("oracle: expected READY, a timeout dump and status 1 "
                       "(exit=True); %s" % oracle.describe())
        dump = oracle.stderr[len(READY):]
        if dump.count(TIMEOUT_HEADER) != 1:
            raise Fail("oracle: expected one dump; %s" % oracle.describe())

        def enough(c):
            err = c.stderr
            if JSON_PASS:
                return wrote_first(err) or json_complete(err, dumps_wanted)
            return wrote_first(err) or (
                err.count(TIMEOUT_HEADER) >= dumps_wanted and
                len(err) >= len(READY) + dumps_wanted * len(dump))
        # Not `must`: on a short dump, the comparison shows the difference.
        watched.pump(enough, "%d dump(s)" % dumps_wanted, must=False)
        early = wrote_first(watched.stderr)
        started = dump_count(watched.stderr)
        if mode != "exit":
            watched.close_stdin()       # the program returns and exits 0
        watched.finish()
        if early:
            print("    attempt %d of 3: pyfault-watch wrote before the "
                  "program was ready (timeout %s s)" % (attempt + 1, text))
            return watched.describe()
        check_status(watched, 124 if mode == "exit" else 0, what)
        res.check_no_program_left(what)
        want_out, want_err = normalise(oracle)
        got_out, got_err = normalise(watched)
        check_same(want_out, got_out, what + " (program's stdout)")
        want_dump = want_err[len(READY):]
        if mode == "repeat":
            if not got_err.startswith(READY):
                raise Fail("%s: stderr does not start with READY; %s" % (
                    what, watched.describe()))
            rest = got_err[len(READY):]
            got = [TIMEOUT_HEADER + d for d in
                   rest.split(TIMEOUT_HEADER)[1:]]
            if len(got) < 2 or not rest.startswith(TIMEOUT_HEADER):
                raise Fail("%s: expected READY then at least 2 dumps; %s" % (
                    what, watched.describe()))
            # Dumps started after the program was let go may show it exiting.
            for n, one in enumerate(got[:started], 1):
                check_same(want_dump, one, "%s (dump #%d)" % (what, n))
            for n, one in enumerate(got[started:], started + 1):
                if not one.startswith(want_dump.split(b"\n", 1)[0]):
                    raise Fail("%s: dump #%d has another header: %r" % (
                        what, n, one[:200]))
            print("    %d dumps" % len(got))
        else:
            check_same(want_err, got_err, what + " (stderr)")
        return None
    finally:
        res.release()


# ------------------------------------------------------- --signal, --chain --

def has_dump(err, before, current_only):
    """Whether err is `before` then a header-less dump: of one thread
    ("Stack"), or of every thread with exactly one current."""
    if not err.startswith(before):
        return False
    dump = err[len(before):]
    if current_only:
        return dump.startswith(STACK_HEADER)
    return (dump.count(b"Current thread 0x") == 1 and
            re.match(rb"(Current thread|Thread) 0x", dump) is not None)


def t_signal(interp, spelling, args, chain=False, current_only=False,
             status=0, ran=None):
    """--signal SIG [--chain] [--current-thread-only] against
    faulthandler.register(SIG, all_threads=not current_only, chain=chain):
    the same dump (no header, the receiving thread current), then the
    signal swallowed or delivered as faulthandler does.  ran: how many
    times the program's own Python handler must have run (None: not
    checked).  With --to-parked the program's main thread waits once it
    has sent the signal: for the receiving thread to be out of a handler
    (faulthandler's, or Python's when chained), or for the end of stdin.
    Only pyfault-watch without --chain leaves the program nothing to wake
    up for: there stdin is closed once the dump ends with the main thread's
    last frame (listed last, as the oldest thread).  Anywhere else, letting
    the program go on could let it end while faulthandler still reads its
    frames or before a chained delivery."""
    res = WatchResources()
    waits = "--to-parked" in args
    try:
        extra = (["--chain"] if chain else []) + (
            ["--current-only"] if current_only else [])
        oracle = Child(res, target(interp, "signal", *list(args) +
                                   ["--oracle"] + extra), stdin=waits)
        options = ["--signal", spelling] if "=" not in spelling else [
            spelling]
        options += (["--chain"] if chain else []) + (
            ["--current-thread-only"] if current_only else [])
        watched = Child(res, watch_cmd(options,
                                       target(interp, "signal", *args)),
                        stdin=waits, core=True)
        what = " ".join(options + ["signal"] + list(args))
        if waits and not chain:
            watched.pump(lambda c: json_complete(c.stderr) if JSON_PASS
                         else c.stderr.endswith(b" in <module>\n"),
                         "a dump ending with the main thread")
            watched.close_stdin()
        oracle.finish()
        if oracle.returncode != status or not has_dump(
                oracle.stderr, ABOUT_TO_SIGNAL, current_only):
            raise Fail("oracle: expected status %d and a dump %s; %s" % (
                status, "of the current thread" if current_only else
                "of every thread, one current", oracle.describe()))
        if ran is not None and (b"target: handler ran %d time(s)\n" % ran
                                not in oracle.stdout):
            raise Fail("oracle: expected the handler to run %d time(s); %s"
                       % (ran, oracle.describe()))
        watched.finish()
        check_ended_like_oracle(res, oracle, watched, status, what)
    finally:
        res.release()


# ------------------------------------------------------- SIGUSR1 request ----

def drain_wake():
    while True:
        try:
            if not os.read(WAKE_FD, 512):
                return
        except BlockingIOError:
            return


def wait_notified(child, what):
    """Waits for READY_SIG (the program's main thread spins holding the
    GIL), reading the child's output meanwhile."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not child.open:
            raise Fail("%s while waiting for %s; %s" % (
                "output ended" if not child.open else
                "timeout (%d s)" % TIMEOUT, what, child.describe()))
        ready, _, _ = select.select([WAKE_FD] + list(child.open), [], [],
                                    remaining)
        for fd in ready:
            if fd != WAKE_FD:
                child.take(fd)
            elif bytes([READY_SIG]) in os.read(WAKE_FD, 512):
                return


def program_pid(child):
    m = re.search(rb"^pid (\d+)$", child.stdout, re.M)
    if m is None:
        raise Fail("no pid line from the program; %s" % child.describe())
    return int(m.group(1))


def wait_all_sleeping(pid, child):
    """Polls /proc until every thread of pid sleeps: no GIL holder left.

    No primitive tells that the main thread has gone from its READY write
    into the blocking call that follows it on the same line."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        states = {}
        for task in glob.glob("/proc/%d/task/*" % pid):
            st = proc_stat(int(os.path.basename(task)))
            if st:
                states[int(os.path.basename(task))] = st[0]
        if states and all(s == "S" for s in states.values()):
            return
        if time.monotonic() > deadline:
            raise Fail("threads of %d never all slept: %r; %s" % (
                pid, states, child.describe()))
        time.sleep(0.001)


def wait_request_ready(child, blocked, what):
    if blocked:
        child.pump(lambda c: READY in c.stderr, "READY from " + what)
        wait_all_sleeping(program_pid(child), child)
    else:
        wait_notified(child, "the main thread of %s to spin" % what)


def t_request(interp, blocked=False, current_only=False):
    """SIGUSR1 sent to pyfault-watch itself: a dump with no header of every
    thread, the GIL holder current (none when every thread is blocked).
    Oracle: faulthandler.register(SIGUSR1) in a program whose main thread,
    the only one that can take SIGUSR1, spins holding the GIL; with every
    thread blocked, the same dump without a current thread.  Then SIGUSR2
    sent to pyfault-watch reaches the program, which exits 0."""
    res = WatchResources()
    try:
        args = ["request", "--notify", "%d:%d" % (os.getpid(), READY_SIG)]
        if blocked:
            args.append("--blocked")
        drain_wake()
        oracle = Child(res, target(interp, *args + ["--oracle"] + (
            ["--current-only"] if current_only else [])))
        wait_request_ready(oracle, blocked, "the oracle")
        os.kill(oracle.pid, signal.SIGUSR1)
        oracle.finish()
        if oracle.returncode != 0 or not has_dump(oracle.stderr, READY,
                                                  current_only):
            raise Fail("oracle: expected READY, a dump %s and status 0; %s"
                       % ("of the main thread" if current_only else
                          "of every thread, the main one current",
                          oracle.describe()))
        expected = oracle.stderr
        if blocked or interp.free_threaded:
            # No thread holds the GIL (a free-threaded build has none): none
            # is current.
            expected = expected.replace(b"Current thread 0x", b"Thread 0x")
        if current_only and interp.free_threaded:
            # Hence nothing to dump, and a one-line notice instead.
            expected = READY + NO_CURRENT_NOTICE

        options = ["--current-thread-only"] if current_only else []
        drain_wake()
        watched = Child(res, watch_cmd(options, target(interp, *args)),
                        core=True)
        what = "SIGUSR1 to pyfault-watch%s%s" % (
            " " + " ".join(options) if options else "",
            ", every thread blocked" if blocked else "")
        wait_request_ready(watched, blocked, "the watched program")
        os.kill(watched.pid, signal.SIGUSR1)
        # Not `must`: on a short dump, the comparison shows the difference.
        watched.pump(lambda c: json_complete(c.stderr) if JSON_PASS
                     else len(c.stderr) >= len(expected),
                     "the dump", must=False)
        os.kill(watched.pid, signal.SIGUSR2)     # passed on: the program ends
        watched.finish()
        check_status(watched, 0, what)
        check_no_core(watched, what)
        res.check_no_program_left(what)
        want_out, want_err = normalise(oracle, expected)
        got_out, got_err = normalise(watched)
        got_err = NO_CURRENT_LINE.sub(NO_CURRENT_NOTICE, got_err)
        check_same(want_out, got_out, what + " (program's stdout)")
        check_same(want_err, got_err, what + " (stderr)")
    finally:
        res.release()


NO_CURRENT_NOTICE = b"pyfault-watch: process PID: no current thread to dump\n"
NO_CURRENT_LINE = re.compile(rb"^pyfault-watch: process \d+: no current "
                             rb"thread to dump\n", re.M)


# ------------------------------------------------------- child processes ----

def t_mp_child_crash(interp, method):
    """A multiprocessing child (fork or spawn) crashes: pyfault-watch writes
    "Process PID:" and exactly the dump of faulthandler.enable() in the
    child; the parent goes on and exits 0."""
    res = WatchResources()
    try:
        oracle = Child(res, target(interp, "mp-crash", method, "--oracle"))
        watched = Child(res, watch_cmd([], target(interp, "mp-crash",
                                                  method)), core=True)
        what = "mp-crash %s" % method
        oracle.finish()
        # A free-threaded 3.14+ without the GIL dumps the faulting thread
        # only.
        first = (b"<Cannot show all threads while the GIL is disabled>\n" +
                 STACK_HEADER if interp.free_threaded and
                 interp.version >= (3, 14) else b"Current thread 0x")
        if (oracle.returncode != 0 or not oracle.stderr.startswith(
                ABOUT_TO_CRASH + b"Fatal Python error: Segmentation fault"
                b"\n\n" + first) or
                b"target: child exit code -11\n" not in oracle.stdout):
            raise Fail("oracle: expected the child's dump, its exit code -11 "
                       "and status 0; %s" % oracle.describe())
        watched.finish()
        check_status(watched, 0, what)
        check_no_core(watched, what)
        res.check_no_program_left(what)
        pids = re.findall(rb"^pid (\d+)$", watched.stdout, re.M)
        if len(pids) != 2:
            raise Fail("%s: expected the pids of parent and child; %s" % (
                what, watched.describe()))
        want_out, want_err = normalise(oracle)
        got_out, got_err = normalise(watched)
        # A document names its process itself.
        if not JSON_PASS:
            want_err = (ABOUT_TO_CRASH + b"Process %s:\n" % pids[1] +
                        want_err[len(ABOUT_TO_CRASH):])
        check_same(want_out, got_out, what + " (program's stdout)")
        check_same(want_err, got_err, what + " (stderr)")
    finally:
        res.release()


# ------------------------------------------------ job control in a terminal --

PROMPT = b"pfw-prompt> "


def take_terminal():
    # In the shell, after setsid(): its stdin, the pty, becomes the
    # controlling terminal of the new session.
    import fcntl
    import termios
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """An interactive bash (job control on) in a pseudo-terminal."""

    def __init__(self, res):
        self.master, slave = os.openpty()
        res.fds.append(self.master)
        env = dict(CHILD_ENV, PS1=PROMPT.decode(), TERM="dumb")
        env.pop("PROMPT_COMMAND", None)
        try:
            self.proc = res.popen(
                ["bash", "--norc", "--noprofile", "--noediting", "+o",
                 "history", "-i"], stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True, preexec_fn=take_terminal, env=env,
                cwd=SCRATCH)
        finally:
            os.close(slave)
        self.buf = bytearray()
        self.pos = 0            # expect() searches from here
        self.eof = False
        self.expect(re.escape(PROMPT), "the first prompt")
        if b"job control" in self.buf:
            raise Fail("bash has no job control: %r" % bytes(self.buf))

    def send(self, data):
        os.write(self.master, data)

    def expect(self, pattern, what):
        regex = re.compile(pattern)
        deadline = time.monotonic() + TIMEOUT
        while True:
            m = regex.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            remaining = deadline - time.monotonic()
            if self.eof or remaining <= 0:
                raise Fail("%s while waiting for %s in the terminal; it "
                           "shows:\n%s" % (
                               "end of output" if self.eof else
                               "timeout (%d s)" % TIMEOUT, what,
                               bytes(self.buf[-3000:]).decode(
                                   "utf-8", "backslashreplace")))
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:         # EIO: no slave left open
                    data = b""
                if data:
                    self.buf += data
                else:
                    self.eof = True

    def run(self, line):
        """Types a command line and waits for the shell to echo it."""
        self.send(line + b"\n")
        self.expect(re.escape(line) + rb"\r\n", "the echo of %r" % line)

    def status(self):
        """$? of the last command, once the shell prompts again.  Every
        prompt is consumed before the next line is typed, so that a
        prompt waited for is one printed after that line."""
        self.expect(re.escape(PROMPT), "the prompt")
        self.run(b"echo STATUS=$?")
        status = int(self.expect(rb"STATUS=(\d+)\r\n", "the status").group(1))
        self.expect(re.escape(PROMPT), "the prompt")
        return status

    def close(self):
        self.run(b"exit")
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Fail("bash did not exit; the terminal shows:\n%s" % (
                bytes(self.buf[-3000:]).decode("utf-8", "backslashreplace")))


def debian_python(interps):
    for interp in interps:
        if "/usr/bin/python3" in [interp.path] + interp.aliases:
            return interp if interp.mode == "full" else None
    return None


def job_command(interp, watched, code):
    cmd = [interp.path, TARGET, "tty", str(code)]
    if watched:
        cmd = watch_cmd([], cmd)
    return " ".join(shlex.quote(c) for c in cmd).encode()


def fg_to_end(term, named, watched, seen):
    """fg (the shell's echo of the job matching named), then "go" to the
    program, which ends: seen with its status, once pyfault-watch is
    known to have written nothing in the terminal."""
    term.run(b"fg")
    term.expect(named, "fg naming the job")
    term.send(b"go\n")
    term.expect(rb"target: got 'go'\r\n", "the program to resume")
    seen["status at the end"] = term.status()
    term.close()
    if watched and b"pyfault-watch:" in term.buf:
        raise Fail("pyfault-watch wrote in the terminal:\n%s" % (
            bytes(term.buf).decode("utf-8", "backslashreplace")))
    return seen


def ctrl_z_fg(interp, watched):
    """Ctrl-Z, then fg, in an interactive shell: what the shell and /proc
    show, the same with and without pyfault-watch."""
    res = WatchResources()
    try:
        term = Terminal(res)
        line = job_command(interp, watched, 3)
        term.run(line)
        pid = int(term.expect(rb"(?m)^pid (\d+)\r$", "the pid").group(1))
        term.expect(rb"target: ready\r\n", "READY")
        term.send(b"\x1a")
        stopped = term.expect(rb"\[\d+\]\+\s+(Stopped(?: \([^)\r\n]*\))?)"
                              rb"\s+(.*?)\r\n", "the job reported stopped")
        seen = {"report": stopped.group(1), "job": stopped.group(2)}
        # The program is stopped before the shell can tell (pyfault-watch
        # stops itself only once its program is in its group-stop).
        st = proc_stat(pid)
        seen["program"] = st[0] if st else None
        if watched and st:
            parent = proc_stat(st[1])
            seen["pyfault-watch"] = parent[0] if parent else None
            if WATCH not in cmdline(st[1]):
                raise Fail("the program's parent is not pyfault-watch: %s"
                           % cmdline(st[1]))
        seen["status after Ctrl-Z"] = term.status()
        return fg_to_end(term, rb"tty 3\r\n", watched, seen)
    finally:
        res.release()


def t_job_control_stop(interp):
    alone = ctrl_z_fg(interp, False)
    watched = ctrl_z_fg(interp, True)
    what = "Ctrl-Z, fg"
    if alone["program"] not in ("T", "t") or alone["status after Ctrl-Z"] \
            != 128 + signal.SIGTSTP or alone["status at the end"] != 3:
        raise Fail("%s: unexpected behaviour without pyfault-watch: %r" % (
            what, alone))
    if watched["program"] not in ("T", "t"):
        raise Fail("%s: after the shell reported the job %s, the program is "
                   "in state %s (not stopped): %r" % (
                       what, watched["report"], watched["program"], watched))
    if watched.get("pyfault-watch") != "T":
        raise Fail("%s: pyfault-watch is in state %s, not stopped: %r" % (
            what, watched.get("pyfault-watch"), watched))
    for key in ("report", "status after Ctrl-Z", "status at the end"):
        if alone[key] != watched[key]:
            raise Fail("%s: %s: %r with pyfault-watch, %r without" % (
                what, key, watched[key], alone[key]))
    print("    (%s only) %s; $? %d after Ctrl-Z, %d at the end" % (
        interp.path, watched["report"].decode(),
        watched["status after Ctrl-Z"], watched["status at the end"]))


# Waits on a FIFO (opened read-write: no EOF) before it reads a line from
# the terminal: in the background it touches the terminal only when told.
BG_PROGRAM = r"""
import os, sys
fifo = os.open(sys.argv[1], os.O_RDWR)
os.write(1, b"pid %d\ntarget: ready\n" % os.getpid())
os.read(fifo, 1)
line = os.read(0, 1024)
os.write(1, b"target: got %r\n" % line.strip().decode())
sys.exit(3)
"""


def wait_state(pid, states, what):
    """Polls /proc until pid is in one of states (no primitive tells when a
    job-control signal has been taken); its state."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        st = proc_stat(pid)
        if st is None or st[0] in states:
            return st[0] if st else None
        if time.monotonic() > deadline:
            raise Fail("%s: in state %s, not %s, after %d s" % (
                what, st[0], states, TIMEOUT))
        time.sleep(0.002)


def ctrl_z_bg_fg(interp, watched):
    """Ctrl-Z, bg, then a terminal read in the background (SIGTTIN), then
    fg: what the shell and /proc show."""
    res = WatchResources()
    try:
        fifo = os.path.join(TMPDIR, "bg-fifo-%d" % watched)
        os.mkfifo(fifo)
        program = os.path.join(TMPDIR, "bg_program.py")
        with open(program, "w") as f:
            f.write(BG_PROGRAM)
        term = Terminal(res)
        cmd = [interp.path, program, fifo]
        if watched:
            cmd = watch_cmd([], cmd)
        term.run(" ".join(shlex.quote(c) for c in cmd).encode())
        pid = int(term.expect(rb"(?m)^pid (\d+)\r$", "the pid").group(1))
        term.expect(rb"target: ready\r\n", "READY")
        job = proc_stat(pid)[1] if watched else pid
        seen = {}
        term.send(b"\x1a")
        seen["Ctrl-Z"] = term.expect(rb"\[\d+\]\+\s+(Stopped)", "the job "
                                     "reported stopped").group(1)
        seen["status after Ctrl-Z"] = term.status()
        term.run(b"bg")
        term.expect(rb"\[\d+\]\+ .*\ &\r\n", "bg naming the job")
        seen["program after bg"] = wait_state(pid, "S", "the program")
        seen["job after bg"] = wait_state(job, "S", "the job")
        seen["status after bg"] = term.status()
        # Reading the terminal in the background stops the whole job.
        with open(fifo, "wb", 0) as f:
            f.write(b"x")
        seen["program after a read"] = wait_state(pid, "tT", "the program")
        seen["job after a read"] = wait_state(job, "T", "the job")
        term.run(b"jobs")
        seen["jobs"] = term.expect(rb"\[\d+\]\+\s+(Stopped[^\r\n]*?)\s{2}",
                                   "jobs").group(1)
        return fg_to_end(term, re.escape(fifo.encode()) + rb"\r\n",
                         watched, seen)
    finally:
        res.release()


def t_job_control_bg(interp):
    alone = ctrl_z_bg_fg(interp, False)
    watched = ctrl_z_bg_fg(interp, True)
    if not alone["jobs"].startswith(b"Stopped") or \
            alone["status at the end"] != 3:
        raise Fail("Ctrl-Z, bg, fg: unexpected behaviour without "
                   "pyfault-watch: %r" % alone)
    for key in sorted(alone):
        # Stopped by a tracer ("t") or not: the same to the shell.
        if alone[key] != watched[key] and key != "program after a read":
            raise Fail("Ctrl-Z, bg, fg: %s: %r with pyfault-watch, %r "
                       "without" % (key, watched[key], alone[key]))
    print("    (%s only) after bg the program is in state %s; a terminal "
          "read in the background: %s; $? %d at the end" % (
              interp.path, watched["program after bg"],
              watched["jobs"].decode(), watched["status at the end"]))


def ctrl_c(interp, watched):
    res = WatchResources()
    try:
        term = Terminal(res)
        term.run(job_command(interp, watched, 3))
        term.expect(rb"(?m)^pid (\d+)\r$", "the pid")
        term.expect(rb"target: ready\r\n", "READY")
        start = term.pos
        term.send(b"\x03")
        term.expect(rb"KeyboardInterrupt\r\n", "KeyboardInterrupt")
        status = term.status()
        shown = bytes(term.buf[start:])
        term.close()
        if watched and b"pyfault-watch" in shown:
            raise Fail("pyfault-watch wrote in the terminal:\n%s" % (
                shown.decode("utf-8", "backslashreplace")))
        return status
    finally:
        res.release()


def t_job_control_interrupt(interp):
    alone = ctrl_c(interp, False)
    watched = ctrl_c(interp, True)
    if alone != 128 + signal.SIGINT:
        raise Fail("Ctrl-C without pyfault-watch: $? is %d" % alone)
    if watched != alone:
        raise Fail("Ctrl-C: $? is %d with pyfault-watch, %d without" % (
            watched, alone))
    print("    (%s only) $? %d" % (interp.path, watched))


# ------------------------------------------------------- exits and signals --

# (name, pyfault-watch options, target arguments, expected status)
FIDELITY = [
    ("exit-3", [], ["exit", "3"], 3),
    ("exit-200", [], ["exit", "200"], 200),
    ("exit-3-before-timeout", ["-t", "60"], ["exit", "3"], 3),
    ("exit-0-before-timeout-exit", ["-t", "60", "--exit"], ["exit", "0"], 0),
    ("sigterm-from-itself", [], ["kill", "SIGTERM"], -signal.SIGTERM),
    ("sigkill-from-itself", [], ["kill", "SIGKILL"], -signal.SIGKILL),
    ("sigusr1-default", [], ["kill", "SIGUSR1"], -signal.SIGUSR1),
    # Python dies of SIGINT after an uncaught KeyboardInterrupt from 3.8 on
    # (bpo-1054041); before, it exits 1.
    ("sigint-keyboardinterrupt", [], ["kill", "SIGINT"],
     lambda interp: -signal.SIGINT if interp.version >= (3, 8) else 1),
    ("ignored-sigsegv", [], ["ignore", "SIGSEGV"], 0),
    ("ignored-sigfpe", [], ["ignore", "SIGFPE"], 0),
    ("handled-sigsegv", [], ["handle", "SIGSEGV"], 0),
    ("handled-sigbus", [], ["handle", "SIGBUS"], 0),
    ("sigalrm-x5", [], ["alarm"], 0),
    ("sigchld", [], ["sigchld"], 0),
    ("child-crash-no-follow", ["--no-follow"], ["child-crash"], 0),
    ("mp-fork-child-crash-no-follow", ["--no-follow"],
     ["mp-crash", "fork"], 0),
    ("mp-spawn-child-crash-no-follow", ["--no-follow"],
     ["mp-crash", "spawn"], 0),
]


def t_fidelity(interp, options, args, status):
    """The program behaves as without pyfault-watch: same status, output."""
    if callable(status):
        status = status(interp)
    res = WatchResources()
    try:
        plain = Child(res, target(interp, *args))
        watched = Child(res, watch_cmd(options, target(interp, *args)),
                        core=True)
        plain.finish()
        what = " ".join(options + args)
        if plain.returncode != status:
            raise Fail("without pyfault-watch: expected status %d; %s" % (
                status, plain.describe()))
        watched.finish()
        check_status(watched, status, what)
        check_no_core(watched, what)
        res.check_no_program_left(what)
        # Pids and thread ids, when the program reports them, differ.
        plain_out, plain_err = normalise(plain)
        got_out, got_err = normalise(watched)
        check_same(plain_out, got_out, what + " (stdout)",
                   "the program alone")
        check_same(plain_err, got_err, what + " (stderr)",
                   "the program alone")
    finally:
        res.release()


def t_unsupported(interp):
    """Python older than 2.7, or 3.0-3.5: no dump expected, but the status
    must pass through, death by signal included."""
    no_core = ("import resource; resource.setrlimit(resource.RLIMIT_CORE, "
               "(0, resource.getrlimit(resource.RLIMIT_CORE)[1])); ")
    for code, status in (("import sys; sys.exit(3)", 3),
                         ("import os; os.abort()", -signal.SIGABRT)):
        res = WatchResources()
        try:
            watched = Child(res, watch_cmd([], [interp.path, "-c",
                                                no_core + code]), core=True)
            watched.finish()
            check_status(watched, status, code)
            check_no_core(watched, code)
            res.check_no_program_left(code)
            if status < 0:
                # No dump: one line naming the cause instead.
                check_error_line(watched, code)
        finally:
            res.release()


def t_sigchld_ignored():
    """Started with SIGCHLD ignored (as a daemon may start its jobs), which
    the kernel then sends no tracer: pyfault-watch used to wait for ever.
    The program still gets it ignored, ends with its own status, and its
    fault is dumped."""
    code = ("import os, resource, signal, sys\n"
            "resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit("
            "resource.RLIMIT_CORE)[1]))\n"
            "print(signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN)\n"
            "sys.stdout.flush()\n"
            "if sys.argv[1] == 'segv': os.kill(os.getpid(), signal.SIGSEGV)\n"
            "sys.exit(3)\n")
    for how, status in (("exit", 3), ("segv", -signal.SIGSEGV)):
        res = WatchResources()
        try:
            watched = Child(res, watch_cmd([], [sys.executable, "-c", code,
                                                how]),
                            core=True, sigchld_ignored=True)
            watched.finish()
            what = "SIGCHLD ignored, %s" % how
            check_status(watched, status, what)
            check_no_core(watched, what)
            res.check_no_program_left(what)
            if watched.stdout != b"True\n":
                raise Fail("%s: the program did not find SIGCHLD ignored: "
                           "%s" % (what, watched.describe()))
            if how == "segv" and b"(most recent call first)" not in \
                    watched.stderr:
                raise Fail("%s: no dump; %s" % (what, watched.describe()))
        finally:
            res.release()


# ------------------------------------------------------ commands and usage --

def t_not_found():
    for cmd in ("/nonexistent/pyfault-test/cmd", "pyfault-no-such-command"):
        out = run_watch(["--", cmd])
        if out.returncode != 127:
            raise Fail("%s: expected status 127, got %d; stderr %r" % (
                cmd, out.returncode, out.stderr))
        check_error_line(out, cmd)


def t_not_executable():
    path = os.path.join(TMPDIR, "not-executable.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(path, 0o644)
    for cmd, what in ((path, "file without x bit"),
                      (TMPDIR, "directory")):
        out = run_watch(["--", cmd])
        if out.returncode != 126:
            raise Fail("%s: expected status 126, got %d; stderr %r" % (
                what, out.returncode, out.stderr))
        check_error_line(out, what)
        if out.stdout:
            raise Fail("%s: stdout %r" % (what, out.stdout))


def t_path_argv_env_stdin():
    bindir = os.path.join(TMPDIR, "bin")
    os.makedirs(bindir, exist_ok=True)
    script = os.path.join(bindir, "pyfault-test-cmd")
    with open(script, "w") as f:
        f.write('#!/bin/sh\nprintf "[%s]" "$0" "$@" "$PYFAULT_TEST_VAR"\n'
                'cat\nexit 5\n')
    os.chmod(script, 0o755)
    env = dict(CHILD_ENV)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env["PYFAULT_TEST_VAR"] = "value with spaces"
    args = ["pyfault-test-cmd", "-t", "5", "--help", "--", "", "x y"]
    out = run_watch(["--"] + args, stdin=b"from stdin\n", env=env)
    if out.returncode != 5:
        raise Fail("expected the command's status 5, got %d; stderr %r" % (
            out.returncode, out.stderr))
    want = ("[%s][-t][5][--help][--][][x y][value with spaces]from stdin\n"
            % script).encode()
    if out.stdout != want or out.stderr:
        raise Fail("PATH lookup, argv, environment, stdin: expected stdout "
                   "%r and no stderr, got %r and %r" % (want, out.stdout,
                                                        out.stderr))
    for cmd, status in ((["true"], 0), (["false"], 1)):
        out = run_watch(["--"] + cmd)
        if out.returncode != status or out.stdout or out.stderr:
            raise Fail("%s: expected status %d and no output, got %d, %r, "
                       "%r" % (cmd[0], status, out.returncode, out.stdout,
                               out.stderr))


def t_usage():
    ran = ["--", "sh", "-c", "echo ran"]
    cases = [([], "no command"), (["--"], "nothing after --"),
             (["--no-such-option"] + ran, "unknown option"),
             (["-t"], "-t without SECONDS"),
             (["--timeout"], "--timeout without SECONDS"),
             (["-o"], "-o without FILE")]
    for bad in ("abc", "", "1x", "-1", "0", "nan"):
        cases.append((["-t", bad] + ran, "timeout %r" % bad))
    for args, what in cases:
        out = run_watch(args)
        if out.returncode != 2:
            raise Fail("%s: expected status 2, got %d; stdout %r, stderr %r"
                       % (what, out.returncode, out.stdout, out.stderr))
        if not out.stderr.startswith(PREFIX):
            raise Fail("%s: stderr should start with %r: %r" % (
                what, PREFIX.decode(), out.stderr))
        if b"ran" in out.stdout:
            raise Fail("%s: the command ran anyway" % what)


def t_signal_names():
    """--signal takes every name of a signal the driver's Python knows
    (from the C library's headers, aliases such as SIGIO's POLL, SIGABRT's
    IOT and SIGCHLD's CLD included), with or without SIG, and refuses an
    alias exactly when it refuses the signal's own name."""
    refused = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGSEGV,
               signal.SIGFPE, signal.SIGABRT, signal.SIGBUS, signal.SIGILL}
    names = [(n, v) for n, v in signal.Signals.__members__.items()
             if "RTM" not in n]
    for name, value in names:
        for spelling in (name, name[3:]):
            out = run_watch(["--signal", spelling, "--", "sh", "-c",
                             "echo ran"])
            want = (b"cannot dump on signal '%s'" % spelling.encode()
                    if value in refused else None)
            if (out.returncode != (2 if want else 0) or
                    (want or b"") not in out.stderr or
                    (not want and out.stdout != b"ran\n")):
                raise Fail("--signal %s (%d): expected %s; status %d, "
                           "stdout %r, stderr %r" % (
                               spelling, value, "refused" if want else
                               "taken", out.returncode, out.stdout,
                               out.stderr))
    out = run_watch(["--signal", "NOPE", "--", "sh", "-c", "echo ran"])
    if out.returncode != 2 or b"unknown signal 'NOPE'" not in out.stderr:
        raise Fail("--signal NOPE: status %d, stderr %r" % (
            out.returncode, out.stderr))


def t_help_version():
    for opt in ("--help", "--version"):
        out = run_watch([opt])
        if out.returncode != 0:
            raise Fail("%s: expected status 0, got %d; stderr %r" % (
                opt, out.returncode, out.stderr))
        if not out.stdout.strip():
            raise Fail("%s printed nothing on stdout" % opt)


# ------------------------------------------------------------------ main ----

PER_INTERP = []
for _kind in ("segv", "fpe", "ill", "abrt", "bus"):
    PER_INTERP += [
        ("sig%s" % _kind, lambda i, k=_kind: t_fatal(i, k)),
        ("sig%s-in-thread" % _kind,
         lambda i, k=_kind: t_fatal(i, k, ["--in-thread"])),
        ("sig%s-busy-thread" % _kind,
         lambda i, k=_kind: t_fatal(i, k, ["--busy"])),
        ("sig%s-under-faulthandler" % _kind,
         lambda i, k=_kind: t_fatal_under_faulthandler(i, k)),
    ]
PER_INTERP += [
    ("sigsegv-after-children-under-load",
     lambda i: t_fatal_after_children(i, CHILD_RACE_RUNS)),
    ("sigsegv-in-thread-busy-thread",
     lambda i: t_fatal(i, "segv", ["--in-thread", "--busy"])),
    ("sigsegv-extension-modules",
     lambda i: t_fatal(i, "segv", ["--extensions"])),
    ("sigabrt-extension-modules-in-thread",
     lambda i: t_fatal(i, "abrt", ["--extensions", "--in-thread"])),
    # Past faulthandler's 100 threads: it dumps the 100 newest then "...",
    # the faulting thread's C stack (3.14) wherever it is; 3.14t without
    # the GIL shows the faulting thread alone, found past them too.
    ("sigsegv-105-threads",
     lambda i: t_fatal(i, "segv", ["--threads", "105"])),
    ("sigsegv-105-threads-in-thread",
     lambda i: t_fatal(i, "segv", ["--threads", "105", "--in-thread"])),
    ("sigabrt-105-threads-in-thread",
     lambda i: t_fatal(i, "abrt", ["--threads", "105", "--in-thread"])),
    ("sigsegv-current-thread-only-105-threads",
     lambda i: t_fatal(i, "segv", ["--threads", "105"], current_only=True)),
    # A frame without a line number: "line ???", then from 3.14.1 on
    # "<invalid frame>" and no older frame.
    ("sigsegv-no-line-numbers", t_fatal_no_lines),
    ("output-file-appended", t_output_file),
    ("timeout-once", lambda i: t_timeout(i, "once")),
    ("timeout-repeat", lambda i: t_timeout(i, "repeat")),
    ("timeout-exit", lambda i: t_timeout(i, "exit")),
    ("timeout-fraction", lambda i: t_timeout(i, "fraction")),
    # --current-thread-only: faulthandler.enable(all_threads=False).
    ("sigsegv-current-thread-only",
     lambda i: t_fatal(i, "segv", current_only=True)),
    ("sigsegv-current-thread-only-in-thread",
     lambda i: t_fatal(i, "segv", ["--in-thread"], current_only=True)),
    ("sigabrt-current-thread-only-in-thread-busy-thread",
     lambda i: t_fatal(i, "abrt", ["--in-thread", "--busy"],
                       current_only=True)),
    # --signal: faulthandler.register(); a Python handler must not run
    # unless --chain, and then once.
    ("signal-usr2", lambda i: t_signal(
        i, "USR2", ["SIGUSR2", "--handler"], ran=0)),
    ("signal-usr2-in-thread", lambda i: t_signal(
        i, "SIGUSR2", ["SIGUSR2", "--handler", "--in-thread"], ran=0)),
    ("signal-usr2-to-parked-thread", lambda i: t_signal(
        i, "USR2", ["SIGUSR2", "--handler", "--to-parked"], ran=0)),
    ("signal-usr2-chain-to-parked-thread", lambda i: t_signal(
        i, "USR2", ["SIGUSR2", "--handler", "--to-parked"], chain=True,
        ran=1)),
    ("signal-usr2-default-disposition", lambda i: t_signal(
        i, "--signal=%d" % signal.SIGUSR2, ["SIGUSR2"], ran=0)),
    ("signal-usr2-chain", lambda i: t_signal(
        i, "USR2", ["SIGUSR2", "--handler"], chain=True, ran=1)),
    ("signal-usr2-chain-in-thread", lambda i: t_signal(
        i, "--signal=USR2", ["SIGUSR2", "--handler", "--in-thread"],
        chain=True, ran=1)),
    ("signal-usr2-chain-default-disposition", lambda i: t_signal(
        i, "USR2", ["SIGUSR2"], chain=True, status=-signal.SIGUSR2)),
    ("signal-usr2-current-thread-only-in-thread", lambda i: t_signal(
        i, "USR2", ["SIGUSR2", "--handler", "--in-thread"],
        current_only=True, ran=0)),
    # SIGIO by bash's name and by glibc's.
    ("signal-io", lambda i: t_signal(
        i, "IO", ["SIGIO", "--handler"], ran=0)),
    ("signal-poll", lambda i: t_signal(
        i, "--signal=POLL", ["SIGPOLL", "--handler"], ran=0)),
    # SIGUSR1 to pyfault-watch: a dump now, the GIL holder current.
    ("sigusr1-request-gil-holder", t_request),
    ("sigusr1-request-all-blocked", lambda i: t_request(i, blocked=True)),
    ("sigusr1-request-current-thread-only",
     lambda i: t_request(i, current_only=True)),
    # Children followed (the default).
    ("mp-fork-child-crash", lambda i: t_mp_child_crash(i, "fork")),
    ("mp-spawn-child-crash", lambda i: t_mp_child_crash(i, "spawn")),
]
for _name, _opts, _args, _status in FIDELITY:
    PER_INTERP.append((_name, lambda i, o=_opts, a=_args, s=_status:
                       t_fidelity(i, o, a, s)))

# 2.7 has no faulthandler.  Its oracle of a fatal signal is the program's own
# rendering of the backport's dump (watch_targets.py --backport-oracle);
# the scenarios whose oracle needs faulthandler's other functions, or
# Python 3 modules, are skipped with the reason.
PY27_SKIPPED = [
    ("-under-faulthandler$", "needs faulthandler itself, which 2.7 lacks"),
    ("^timeout-", "the oracle is faulthandler.dump_traceback_later, which "
                 "2.7 lacks (the 2.7 dump format is checked on fatal "
                 "signals, and by test_attach.py; the backport's timeout "
                 "header by tests/unit/test_format)"),
    ("^signal-", "the oracle is faulthandler.register, which 2.7 lacks"),
    ("^sigusr1-request", "the oracle is faulthandler.register, which 2.7 "
                        "lacks (test_attach.py covers that dump on 2.7)"),
    ("^mp-", "multiprocessing.get_context() is Python 3.4+"),
    ("-105-threads", "backport_format.py renders no dump past the "
                     "backport's 100 threads"),
]


def for_interp(name, func, interp):
    """func, or for 2.7 a test that skips with the reason."""
    if interp.version[0] == 2:
        for pattern, reason in PY27_SKIPPED:
            if re.search(pattern, name):
                def skip(reason=reason):
                    raise Skip("Python 2.7: " + reason)
                return skip
    return lambda: func(interp)


def skip_no_debian():
    raise Skip("no /usr/bin/python3 of a supported version")


def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def core_limit():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    return hard or None


def watch_ready_signal():
    """READY_SIG becomes a byte on WAKE_FD, for the whole run: a signal
    that comes late can do no harm.  (The programs get the default
    disposition back at exec; the mask is left alone.)"""
    global WAKE_FD
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    signal.signal(READY_SIG, lambda signo, frame: None)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    WAKE_FD = rfd


def json_option(parser):
    parser.add_argument("--json", action="store_true")


def make_tests(suite):
    global WATCH, TMPDIR, SCRATCH, SUBREAPER, CORE_LIMIT, JSON_PASS
    WATCH, TMPDIR, JSON_PASS = suite.watch, suite.tmpdir, suite.opts.json
    SCRATCH = os.path.join(TMPDIR, "cwd")
    os.mkdir(SCRATCH)
    # The offset cache goes with the other temporary files, not in the
    # user's ~/.cache.
    CHILD_ENV["XDG_CACHE_HOME"] = os.path.join(TMPDIR, "cache")
    SUBREAPER = become_subreaper()
    CORE_LIMIT = core_limit()
    # Started in the background by a shell without job control, this
    # driver has SIGINT ignored, which its programs would inherit: they
    # must get it as from a terminal (KeyboardInterrupt, Ctrl-C).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    watch_ready_signal()
    print("subreaper: %s; core dumps of pyfault-watch checked: %s" % (
        "yes (programs left behind are detected)" if SUBREAPER else
        "NO (prctl failed: programs left behind go undetected)",
        "yes (RLIMIT_CORE raised to %s)" % (
            "unlimited" if CORE_LIMIT == -1 else CORE_LIMIT)
        if CORE_LIMIT else "only by file (hard RLIMIT_CORE is 0)"))
    sys.stdout.flush()

    tests = []
    # The fidelity scenarios write no dump: nothing for the JSON pass.
    no_dump = {name for name, _, _, _ in FIDELITY}
    # Nor for the one about "Process PID:", a line JSON does not have.
    no_dump.add("sigsegv-after-children-under-load")
    for interp in suite.full:
        for name, func in PER_INTERP:
            if JSON_PASS and name in no_dump:
                continue
            tests.append(("%s %s" % (interp.label, name),
                          for_interp(name, func, interp), interp))
    for interp in suite.unsupported:
        tests.append(("%s unsupported-version" % interp.label,
                      (lambda i=interp: t_unsupported(i)), interp))
    # The rest does not depend on the output format.
    if JSON_PASS:
        print("JSON pass: every scenario with --format json")
        return tests
    # Job control in a pseudo-terminal: Debian's python3 only.
    debian = debian_python(suite.interps)
    for name, func in (("job-control-ctrl-z-fg", t_job_control_stop),
                       ("job-control-ctrl-z-bg-ttin-fg", t_job_control_bg),
                       ("job-control-ctrl-c", t_job_control_interrupt)):
        if debian:
            tests.append(("%s %s (/usr/bin/python3 only)" % (
                debian.label, name), (lambda f=func: f(debian)), debian))
        else:
            tests.append(("%s (/usr/bin/python3 only)" % name,
                          skip_no_debian, None))
    return tests + [
        ("SIGCHLD ignored by whoever started it", t_sigchld_ignored, None),
        ("command not found (127)", t_not_found, None),
        ("command not executable (126)", t_not_executable, None),
        ("PATH lookup, argv, environment, stdin", t_path_argv_env_stdin,
         None),
        ("usage errors (2)", t_usage, None),
        ("usage --signal names, kill(1)'s aliases", t_signal_names, None),
        ("usage --help --version", t_help_version, None),
    ]


def main():
    return pyinterps.suite_main(__doc__, "pyfault-watch-functional-",
                                make_tests, commands=("watch",),
                                options=json_option)


if __name__ == "__main__":
    sys.exit(main())
