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
pyfault-watch itself, and on Python 2.7/3.6/3.7 (no dump possible) that the
status still passes through with one line on stderr instead of a dump.

Options:
  --watch PATH         the pyfault-watch binary (or $PYFAULT_WATCH)
  --keep               keep the temporary directory
  --only SUBSTRING     run only the tests whose name contains SUBSTRING
                       (repeatable)

Stdlib only; runs on Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import argparse
import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pyinterps
from pyinterps import (TIMEOUT, Fail, Resources, discover, print_table,
                       report, run_tests)

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "watch_targets.py")
PREFIX = b"pyfault-watch: "
READY = b"target: ready\n"
ABOUT_TO_CRASH = b"target: about to crash\n"
TIMEOUT_HEADER = b"Timeout ("
FATAL = {"segv": signal.SIGSEGV, "fpe": signal.SIGFPE, "ill": signal.SIGILL,
         "abrt": signal.SIGABRT, "bus": signal.SIGBUS}
FATAL_NAMES = {"segv": [b"Segmentation fault"],
               "fpe": [b"Floating point exception",
                       b"Floating-point exception"],
               "ill": [b"Illegal instruction"], "abrt": [b"Aborted"],
               "bus": [b"Bus error"]}
PR_SET_CHILD_SUBREAPER = 36

WATCH = None
OPTS = None
TMPDIR = None
SCRATCH = None          # cwd of the watched programs; must stay free of cores
SUBREAPER = False       # programs orphaned by pyfault-watch come to us
CORE_LIMIT = None       # soft RLIMIT_CORE given to pyfault-watch, or None
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

    def __init__(self, res, cmd, stdin=False, env=None, core=False):
        self.cmd = [str(c) for c in cmd]
        self.proc = res.popen(
            self.cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=CHILD_ENV if env is None else env, cwd=SCRATCH,
            preexec_fn=allow_core if core and CORE_LIMIT else None)
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
                data = os.read(fd, 65536)
                if data:
                    self.bufs[self.open[fd]] += data
                else:
                    del self.open[fd]
        return True

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


def proc_stat(pid):
    """(state, ppid) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


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
        for pid, state, line, _ in self.reap_orphans():
            if state != "Z":
                print("  (killed PID %d left behind, state %s: %s)" % (
                    pid, state, line))


def watch_cmd(options, argv):
    return [WATCH] + list(options) + ["--"] + list(argv)


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


def normalise(child, stderr=None):
    """(stdout, stderr) of child with every thread id replaced by the name
    the program gave that thread, the others numbered by first appearance."""
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


def check_error_line(proc, what):
    err = proc.stderr
    if (not err.startswith(PREFIX) or not err.endswith(b"\n")
            or err.count(b"\n") != 1):
        raise Fail("%s: stderr must be one line starting with %r, got %r" % (
            what, PREFIX.decode(), err))


def target(interp, *args):
    return [interp.path, TARGET] + list(args)


def oracle_cmd(interp, *args):
    return [interp.path, "-X", "faulthandler", TARGET] + list(args)


# ------------------------------------------------------------ fatal signals --

def run_oracle_crash(res, interp, args):
    return Child(res, oracle_cmd(interp, "crash", *args))


def check_oracle_crash(oracle, kind, wants_trailer=False):
    oracle.finish()
    if oracle.returncode != -FATAL[kind]:
        raise Fail("oracle: expected death by signal %d; %s" % (
            FATAL[kind], oracle.describe()))
    if not any(oracle.stderr.startswith(ABOUT_TO_CRASH + b"Fatal Python error"
                                        b": " + name + b"\n\n")
               for name in FATAL_NAMES[kind]):
        raise Fail("oracle: unexpected faulthandler output; %s"
                   % oracle.describe())
    listed = b"\nExtension modules: " in oracle.stderr
    if listed != wants_trailer:
        raise Fail("oracle: %s; %s" % (
            "expected an Extension modules line" if wants_trailer else
            "lists extension modules (the target must import only the "
            "standard library)", oracle.describe()))


def t_fatal(interp, kind, args=()):
    res = WatchResources()
    try:
        argv = [kind] + list(args)
        oracle = run_oracle_crash(res, interp, argv)
        watched = Child(res, watch_cmd([], target(interp, "crash", *argv)),
                        core=True)
        check_oracle_crash(oracle, kind, "--extensions" in args and
                           interp.version >= (3, 10))
        watched.finish()
        what = "crash %s" % " ".join(argv)
        check_status(watched, -FATAL[kind], what)
        check_no_core(watched, what)
        res.check_no_program_left(what)
        want_out, want_err = normalise(oracle)
        got_out, got_err = normalise(watched)
        check_same(want_out, got_out, what + " (program's stdout)")
        check_same(want_err, got_err, what + " (stderr)")
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
        check_same(ABOUT_TO_CRASH, watched.stderr,
                   what + " (stderr: the program's only)", "the program")
        check_same(prefix + dump, got_file, what + " (FILE, appended)")
    finally:
        res.release()


# --------------------------------------------------------------- timeouts ---

def t_timeout(interp, mode):
    seconds = {"once": 0.75, "repeat": 0.5, "exit": 1.0}[mode]
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
    option = ["-t", text] if mode != "once" else ["--timeout", text]
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
            return wrote_first(err) or (
                err.count(TIMEOUT_HEADER) >= dumps_wanted and
                len(err) >= len(READY) + dumps_wanted * len(dump))
        # Not `must`: on a short dump, the comparison shows the difference.
        watched.pump(enough, "%d dump(s)" % dumps_wanted, must=False)
        early = wrote_first(watched.stderr)
        started = watched.stderr.count(TIMEOUT_HEADER)
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
    ("sigint-keyboardinterrupt", [], ["kill", "SIGINT"], -signal.SIGINT),
    ("ignored-sigsegv", [], ["ignore", "SIGSEGV"], 0),
    ("ignored-sigfpe", [], ["ignore", "SIGFPE"], 0),
    ("handled-sigsegv", [], ["handle", "SIGSEGV"], 0),
    ("handled-sigbus", [], ["handle", "SIGBUS"], 0),
    ("sigalrm-x5", [], ["alarm"], 0),
    ("sigchld", [], ["sigchld"], 0),
    ("child-crash-no-follow", ["--no-follow"], ["child-crash"], 0),
]


def t_fidelity(interp, options, args, status):
    """The program behaves as without pyfault-watch: same status, output."""
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
        check_same(plain.stdout, watched.stdout, what + " (stdout)",
                   "the program alone")
        check_same(plain.stderr, watched.stderr, what + " (stderr)",
                   "the program alone")
    finally:
        res.release()


def t_unsupported(interp):
    """Python 2.7, 3.6, 3.7: no dump expected, but the status must pass
    through, death by signal included."""
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
    ("sigsegv-in-thread-busy-thread",
     lambda i: t_fatal(i, "segv", ["--in-thread", "--busy"])),
    ("sigsegv-extension-modules",
     lambda i: t_fatal(i, "segv", ["--extensions"])),
    ("sigabrt-extension-modules-in-thread",
     lambda i: t_fatal(i, "abrt", ["--extensions", "--in-thread"])),
    ("output-file-appended", t_output_file),
    ("timeout-once", lambda i: t_timeout(i, "once")),
    ("timeout-repeat", lambda i: t_timeout(i, "repeat")),
    ("timeout-exit", lambda i: t_timeout(i, "exit")),
]
for _name, _opts, _args, _status in FIDELITY:
    PER_INTERP.append((_name, lambda i, o=_opts, a=_args, s=_status:
                       t_fidelity(i, o, a, s)))


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


def main():
    global WATCH, OPTS, TMPDIR, SCRATCH, SUBREAPER, CORE_LIMIT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    # make check passes the binary through the environment.
    parser.add_argument("--watch", default=os.environ.get("PYFAULT_WATCH"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--only", action="append", default=[])
    OPTS = parser.parse_args()
    if not OPTS.watch:
        parser.error("give --watch PATH or set PYFAULT_WATCH")
    WATCH = os.path.abspath(OPTS.watch)

    interps, notes = discover()
    print_table(interps, notes, "interpreters found")
    full = [i for i in interps if i.mode == "full"]
    unsupported = [i for i in interps if i.mode == "unsupported"]

    if not (os.path.isfile(WATCH) and os.access(WATCH, os.X_OK)):
        print("FAIL setup: %s is not an executable file" % WATCH)
        print("0 passed, 1 failed")
        return 1
    if not full:
        print("FAIL setup: no CPython 3.8-3.13 interpreter found")
        print("0 passed, 1 failed")
        return 1
    SUBREAPER = become_subreaper()
    CORE_LIMIT = core_limit()
    print("subreaper: %s; core dumps of pyfault-watch checked: %s" % (
        "yes (programs left behind are detected)" if SUBREAPER else
        "NO (prctl failed: programs left behind go undetected)",
        "yes (RLIMIT_CORE raised to %s)" % (
            "unlimited" if CORE_LIMIT == -1 else CORE_LIMIT)
        if CORE_LIMIT else "only by file (hard RLIMIT_CORE is 0)"))
    sys.stdout.flush()

    tests = []
    for interp in full:
        for name, func in PER_INTERP:
            tests.append(("%s %s" % (interp.label, name),
                          (lambda f=func, i=interp: f(i)), interp))
    for interp in unsupported:
        tests.append(("%s unsupported-version" % interp.label,
                      (lambda i=interp: t_unsupported(i)), interp))
    tests += [
        ("command not found (127)", t_not_found, None),
        ("command not executable (126)", t_not_executable, None),
        ("PATH lookup, argv, environment, stdin", t_path_argv_env_stdin,
         None),
        ("usage errors (2)", t_usage, None),
        ("usage --help --version", t_help_version, None),
    ]

    TMPDIR = tempfile.mkdtemp(prefix="pyfault-watch-functional-")
    SCRATCH = os.path.join(TMPDIR, "cwd")
    os.mkdir(SCRATCH)
    try:
        passed, failed, skipped, failures = run_tests(tests, interps,
                                                      OPTS.only)
    finally:
        if OPTS.keep:
            print("kept %s" % TMPDIR)
        else:
            shutil.rmtree(TMPDIR, ignore_errors=True)
    return report(interps, notes, passed, failed, skipped, failures)


if __name__ == "__main__":
    sys.exit(main())
