#!/usr/bin/env python3
"""Functional tests of --status and of the thread states of --format json,
against every CPython on this machine.

    python3 tests/functional/test_status.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch [--keep] [--only SUBSTRING]

tests/functional/status_target.py parks one thread in each state pyfault
names: the main thread spinning with the GIL, a thread waiting for the GIL
it holds, threads asleep in read() and in select().  The target tells its
threads' OS ids on a pipe and signals the driver (READY_SIG) once its main
thread spins; the driver then waits, polling /proc (no primitive tells it),
until the waiting thread sleeps in futex(), where take_gil() parks it,
until the reader and selector sleep in read() and select() (on a loaded
machine a thread that let the GIL go may still be in drop_gil(), where it
reads as waiting for the GIL), and until the main thread's user time
grows: the signal reaches the driver while the main thread is still in
kill(), and only its spin, after it, runs in user space.

Checked, per interpreter:
  * pyfault-attach --status: one line per thread with its OS id, its name
    (/proc comm) and its state; faulthandler's text after it is byte for
    byte the dump without --status.  Attached twice more: a futex wait
    that a ptrace stop interrupted goes on as restart_syscall(), and must
    still read as waiting for the GIL.
  * pyfault-attach --format json: the same states in the document, which
    follows the schema (json_check.py) and passes python3 -m json.tool.
    With json-c unloadable, it fails with one line naming the package
    before it touches the target.
  * pyfault-watch --status, SIGUSR1 to the watcher: the same header.
Once: pyfault-watch --format json with json-c unloadable fails with one
line naming the package before it starts its program.

Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import os
import re
import select
import signal
import subprocess
import sys
import time

import json_check
import pyinterps
from pyinterps import TIMEOUT, Fail, Resources, read_log

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "status_target.py")
READY_SIG = signal.SIGRTMIN + 2
# x86_64 system call numbers, the only architecture pyfault reads.
FUTEX_NR = 202
BLOCKING_CALLS = {"reader": {0},             # read
                  "selector": {23, 270}}     # select, pselect6
STATUS_LINE = re.compile(
    rb'^  Thread (0x[0-9a-f]{16}): tid (\d+|\?) "(.*?)"'
    rb'(?:, Python name "(.*?)")?: (.*)$')
# select() may reach the kernel as select or pselect6, as the C library
# implements it.
EXPECTED_TEXT = {
    "main": {b"holds the GIL, running"},
    "waiter": {b"waiting for the GIL"},
    "reader": {b"in read()"},
    "selector": {b"in select()", b"in pselect6()"},
}
EXPECTED_JSON = {
    "main": ("running", True, {None}),
    "waiter": ("gil_wait", False, {"futex", "restart_syscall"}),
    "reader": ("syscall", False, {"read"}),
    "selector": ("syscall", False, {"select", "pselect6"}),
}

# A free-threaded build has no GIL: main runs without holding one, and the
# waiter, woken, spins as well (and pyfault-attach calls no thread current).
EXPECTED_TEXT_FREE_THREADED = dict(EXPECTED_TEXT, main={b"running"},
                                   waiter={b"running"})
EXPECTED_JSON_FREE_THREADED = dict(EXPECTED_JSON,
                                   main=("running", False, {None}),
                                   waiter=("running", False, {None}))

ATTACH = WATCH = TMPDIR = None


def syscall_nr(pid, tid):
    try:
        with open("/proc/%d/task/%d/syscall" % (pid, tid)) as f:
            return f.read().split()[0]
    except (OSError, IndexError):
        return None


def utime(pid, tid):
    """Clock ticks tid spent in user space (proc(5), stat field 14)."""
    with open("/proc/%d/task/%d/stat" % (pid, tid), "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[11])


def comm(pid, tid):
    with open("/proc/%d/task/%d/comm" % (pid, tid), "rb") as f:
        return f.read().rstrip(b"\n")


class Target:
    """status_target.py, started directly or under cmd_prefix, ready when
    constructed: self.ids maps each thread's role to its OS id."""

    def __init__(self, res, interp, cmd_prefix=()):
        self.free_threaded = interp.free_threaded
        self.expected_text = (EXPECTED_TEXT_FREE_THREADED
                              if interp.free_threaded else EXPECTED_TEXT)
        self.log = os.path.join(TMPDIR, "target-%s-%d.log" % (
            interp.label, len(os.listdir(TMPDIR))))
        rfd, wfd = res.pipe()
        cmd = list(cmd_prefix) + [interp.path, TARGET, "--ready-fd",
                                  str(wfd), "--notify",
                                  "%d:%d" % (os.getpid(), READY_SIG)]
        with open(self.log, "wb") as log:
            self.proc = res.popen(cmd, pass_fds=[wfd], stdout=log,
                                  stderr=subprocess.PIPE)
        res.close(wfd)
        self.ids = self._read_ids(rfd)
        self.pid = self.ids.pop("pid")
        self._wait_notified()
        user_ticks = utime(self.pid, self.pid)
        if self.free_threaded:
            self._wait_in_user_space(self.ids["waiter"],
                                     utime(self.pid, self.ids["waiter"]))
        else:
            self._wait_in_syscall("waiter", {FUTEX_NR})
        for role, calls in BLOCKING_CALLS.items():
            self._wait_in_syscall(role, calls)
        self._wait_in_user_space(self.pid, user_ticks)

    def _read_ids(self, rfd):
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while not data.endswith(b"r\n"):
            ready, _, _ = select.select([rfd], [], [],
                                        max(0, deadline - time.monotonic()))
            chunk = os.read(rfd, 4096) if ready else b""
            if not chunk:
                raise Fail("target never said it was ready (%r); log:\n%s"
                           % (data, read_log(self.log)))
            data += chunk
        ids = {}
        for line in data.decode().splitlines()[:-1]:
            name, tid = line.split()
            ids[name] = int(tid)
        ids["pid"] = ids["main"]
        return ids

    def _wait_notified(self):
        deadline = time.monotonic() + TIMEOUT
        while True:
            info = signal.sigtimedwait([READY_SIG], 0.05)
            if info is not None and info.si_pid == self.pid:
                return
            if time.monotonic() > deadline:
                raise Fail("timeout waiting for the target's ready signal; "
                           "log:\n%s" % read_log(self.log))

    def _wait_in_user_space(self, tid, since):
        """The signal reached the driver while the main thread was still
        in kill() (the free-threaded waiter in sigwait()): its user time
        grows only once it spins."""
        deadline = time.monotonic() + TIMEOUT
        while utime(self.pid, tid) <= since:
            if time.monotonic() > deadline:
                raise Fail("thread %d never ran in user space" % tid)
            time.sleep(0.001)

    def _wait_in_syscall(self, role, calls):
        deadline = time.monotonic() + TIMEOUT
        while syscall_nr(self.pid, self.ids[role]) not in {
                str(nr) for nr in calls}:
            if time.monotonic() > deadline:
                raise Fail("the %s thread never slept in system call %s: "
                           "%r" % (role, sorted(calls),
                                   syscall_nr(self.pid, self.ids[role])))
            time.sleep(0.001)


def run(cmd, what):
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Fail("%s hung" % what)
    if proc.returncode != 0:
        raise Fail("%s: status %d, stderr %r" % (what, proc.returncode,
                                                 proc.stderr))
    return proc


def role_of(target, tid):
    for role, t in target.ids.items():
        if t == tid:
            return role
    raise Fail("thread %d is none of the target's %r" % (tid, target.ids))


def check_header(target, header, what):
    """header: the --status block; every thread once, each as expected."""
    lines = header.split(b"\n")
    if lines[0] != b"Thread status:" or lines[-1] != b"":
        raise Fail("%s: not a status header: %r" % (what, header))
    seen = {}
    for line in lines[1:-1]:
        m = STATUS_LINE.match(line)
        if not m or m.group(2) == b"?":
            raise Fail("%s: bad status line %r" % (what, line))
        tid = int(m.group(2))
        role = role_of(target, tid)
        if m.group(3) != comm(target.pid, tid):
            raise Fail("%s: thread %s named %r, /proc says %r" % (
                what, role, m.group(3), comm(target.pid, tid)))
        expected = target.expected_text[role]
        if m.group(5) not in expected:
            raise Fail("%s: thread %s is %r, expected %s" % (
                what, role, m.group(5), " or ".join(
                    repr(x) for x in expected)))
        seen[role] = m.group(5).decode()
    if set(seen) != set(target.ids):
        raise Fail("%s: status of %s, expected %s" % (
            what, sorted(seen), sorted(target.ids)))
    return seen


def split_status(out, what):
    header, sep, rest = out.partition(b"\n\n")
    if not sep:
        raise Fail("%s: no blank line after the status header: %r" % (
            what, out))
    return header + b"\n", rest


def t_attach_status(interp):
    res = Resources()
    try:
        target = Target(res, interp)
        with_status = run([ATTACH, "--status", str(target.pid)],
                          "--status")
        plain = run([ATTACH, str(target.pid)], "attach")
        again = run([ATTACH, "--status", str(target.pid)],
                    "--status, after two attaches")
        for n, out in enumerate((with_status, again), 1):
            header, rest = split_status(out.stdout, "--status #%d" % n)
            seen = check_header(target, header, "--status #%d" % n)
            if rest != plain.stdout:
                raise Fail("--status #%d: faulthandler's text differs from "
                           "the dump without --status:\n%r\n%r" % (
                               n, rest, plain.stdout))
        print("  %s: %s" % (interp.label, ", ".join(
            "%s %s" % item for item in sorted(seen.items()))))
    finally:
        res.release()


def refused_without_json_c(cmd, what):
    """cmd asks for --format json with json-c unloadable: it must exit
    with status 1, no output and one line naming the package."""
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, timeout=TIMEOUT,
                             env=pyinterps.without_library(
                                 TMPDIR, "libjson-c.so.5"))
    except subprocess.TimeoutExpired:
        raise Fail("%s hung" % what)
    errors = out.stderr.decode(errors="replace").splitlines()
    if (out.returncode != 1 or out.stdout or len(errors) != 1 or
            "libjson-c5" not in errors[0]):
        raise Fail("%s: expected status 1, no output and one line naming "
                   "libjson-c5, got %d %r %r" % (
                       what, out.returncode, out.stdout, out.stderr))


def check_refused_without_json_c(target):
    """pyfault-attach refuses before the target is touched (never traced,
    so never stopped)."""
    what = "--format json, json-c unloadable"
    refused_without_json_c([ATTACH, "--format", "json", str(target.pid)],
                           what)
    with open("/proc/%d/status" % target.pid) as f:
        tracer = [line for line in f if line.startswith("TracerPid:")]
    if tracer != ["TracerPid:\t0\n"]:
        raise Fail("%s: the target is traced: %r" % (what, tracer))


def t_watch_without_json_c():
    """pyfault-watch refuses before it starts its program."""
    marker = os.path.join(TMPDIR, "started-without-json-c")
    refused_without_json_c(
        [WATCH, "--format", "json", "--", sys.executable, "-c",
         "open(%r, 'w').close()" % marker],
        "pyfault-watch --format json, json-c unloadable")
    if os.path.exists(marker):
        raise Fail("pyfault-watch --format json, json-c unloadable: it "
                   "started its program")


def t_attach_json(interp):
    res = Resources()
    try:
        target = Target(res, interp)
        check_refused_without_json_c(target)
        for n in (1, 2):
            what = "--format json #%d" % n
            out = run([ATTACH, "--format", "json", str(target.pid)], what)
            tool = subprocess.run([sys.executable, "-m", "json.tool"],
                                  input=out.stdout, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=TIMEOUT)
            if tool.returncode != 0:
                raise Fail("%s: json.tool rejects it: %r" % (what,
                                                             tool.stderr))
            try:
                docs = json_check.documents(out.stdout, "pyfault-attach")
            except (ValueError, json_check.SchemaError) as exc:
                raise Fail("%s: %s" % (what, exc))
            if len(docs) != 1 or out.stdout.count(b"\n") != 1:
                raise Fail("%s: expected one document on one line: %r" % (
                    what, out.stdout))
            doc = docs[0]
            if doc["process"]["pid"] != target.pid:
                raise Fail("%s: pid %r" % (what, doc["process"]["pid"]))
            threads = {role_of(target, t["tid"]): t for t in doc["threads"]}
            if set(threads) != set(target.ids):
                raise Fail("%s: threads %s" % (what, sorted(threads)))
            expected = (EXPECTED_JSON_FREE_THREADED if interp.free_threaded
                        else EXPECTED_JSON)
            for role, (state, gil, calls) in expected.items():
                t = threads[role]
                call = t["syscall"]["name"] if t["syscall"] else None
                name = comm(target.pid, t["tid"]).decode()
                if (t["state"], t["holds_gil"], t["name"]) != (
                        state, gil, name) or call not in calls or \
                        t["current"] != (role == "main" and
                                         not interp.free_threaded):
                    raise Fail("%s: thread %s: %r" % (what, role, t))
    finally:
        res.release()


def t_watch_status(interp):
    res = Resources()
    target = None
    try:
        target = Target(res, interp, [WATCH, "--status", "--"])
        target.proc.send_signal(signal.SIGUSR1)
        # The dump ends with the main thread's frames, the oldest thread.
        err = pyinterps.read_until(
            target.proc.stderr, lambda err: err.endswith(b" in <module>\n"),
            "no complete dump from pyfault-watch")
        header, _ = split_status(err, "pyfault-watch --status")
        check_header(target, header, "pyfault-watch --status")
    finally:
        pyinterps.end_watched(res, target)


PER_INTERP = [
    ("attach-status", t_attach_status),
    ("attach-json-states", t_attach_json),
    ("watch-status", t_watch_status),
]


def make_tests(suite):
    global ATTACH, WATCH, TMPDIR
    signal.pthread_sigmask(signal.SIG_BLOCK, {READY_SIG})
    ATTACH, WATCH, TMPDIR = suite.attach, suite.watch, suite.tmpdir
    return pyinterps.per_interp(suite.full, PER_INTERP) + [
        ("watch-json-without-json-c", t_watch_without_json_c, None)]


def main():
    # 2.7 lacks the signal API the target parks its threads with; 3.6's
    # GIL is a static of ceval.c that no layout source reaches, so a GIL
    # wait there shows as "in futex()".
    return pyinterps.suite_main(__doc__, "pyfault-status-", make_tests, (
        lambda i: "the target needs signal.pthread_sigmask and sigwait "
        "(3.3+)" if i.version < (3,) else
        "its GIL state is a static of ceval.c, out of reach: a GIL wait "
        "shows as in futex()" if i.version[:2] == (3, 6) else None))


if __name__ == "__main__":
    sys.exit(main())
