#!/usr/bin/env python3
"""Functional tests of the subinterpreter sections of pyfault-attach and
pyfault-watch, against every CPython 3.8+ on this machine.

    python3 tests/functional/test_interpreters.py \\
        --attach src/pyfault-attach --watch src/pyfault-watch \\
        [--keep] [--only SUBSTRING]

tests/functional/interp_target.py parks one thread in each of two
subinterpreters, made with the low-level module (3.8+; each with a GIL
of its own from 3.12), with concurrent.interpreters (3.14+) and with an
InterpreterPoolExecutor of two workers (3.14+); and, as "current" (3.12+
with the GIL), one thread parked and one spinning, which holds its
interpreter's own GIL and is the current thread of its section.  Each
subinterpreter writes its own section from inside
(its id, its thread in faulthandler's format); the main interpreter's
faulthandler writes the main dump on SIGUSR1.  Checked, per interpreter
and way of making subinterpreters:
  * pyfault-attach: faulthandler's dump byte for byte, then for each
    subinterpreter by id "Interpreter ID:" and the section it wrote;
  * pyfault-attach --main-interpreter-only: faulthandler's dump alone;
  * pyfault-attach --format json: the threads of each interpreter under
    its interpreter_id, with the frames of the oracles;
  * pyfault-attach --status: the subinterpreters' threads under their
    "Interpreter ID:" lines;
  * pyfault-watch, SIGUSR1 to the watcher: the same sections after its
    dump.
One case runs under CPU load (a busy loop per core).  Before 3.12, where
the interpreters share the GIL, the main thread sleeps in read() and no
thread is current.

Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import json_check
import pyinterps
from pyinterps import (run_quiet, TIMEOUT, Fail, Resources, expect_byte,
                       read_log, start_cpu_load)

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "interp_target.py")
READY_SIG = signal.SIGRTMIN + 2
READ_NR = 0             # x86_64 read(), the only architecture pyfault reads
SECTION = re.compile(rb"\nInterpreter (\d+):\n")
FRAME = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')

ATTACH = WATCH = TMPDIR = None


class Target:
    """interp_target.py, directly or under cmd_prefix, ready when
    constructed: every subinterpreter's thread parked, its oracle
    written, the main thread spinning with the GIL."""

    def __init__(self, res, interp, api, cmd_prefix=()):
        self.res = res
        self.free_threaded = interp.free_threaded
        # Before 3.12 the interpreters share the GIL: the main thread
        # sleeps rather than spins (see interp_target.py).
        self.main_blocked = interp.version < (3, 12)
        self.dir = tempfile.mkdtemp(prefix="%s-%s-" % (interp.label, api),
                                    dir=TMPDIR)
        self.log = os.path.join(self.dir, "target.log")
        self.rfd, wfd = res.pipe()
        cmd = list(cmd_prefix) + [
            interp.path, TARGET, "--ready-fd", str(wfd), "--oracle-dir",
            self.dir, "--api", api, "--notify",
            "%d:%d" % (os.getpid(), READY_SIG)] + (
                ["--main-blocked", "1"] if self.main_blocked else [])
        with open(self.log, "wb") as log:
            self.proc = res.popen(cmd, pass_fds=[wfd], stdout=log,
                                  stderr=subprocess.PIPE if cmd_prefix
                                  else log)
        res.close(wfd)
        expect_byte(self.rfd, b"r", "the target to be ready", self.log)
        self.pid = self._wait_notified()
        if self.main_blocked:
            self._wait_in_read(self.pid)

    def _wait_notified(self):
        """The Python program's pid, which sent the signal (under
        pyfault-watch, not the process the driver started)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            info = signal.sigtimedwait([READY_SIG], 0.05)
            if info is not None:
                return info.si_pid
            if self.proc.poll() is not None or \
                    time.monotonic() > deadline:
                raise Fail("no ready signal from the target; log:\n%s" %
                           read_log(self.log))

    def sections(self):
        """{interpreter id: the section it wrote}, once each of their
        threads sleeps in read(), where it parks: it wrote its oracle and
        the byte that made the target ready just before."""
        found = {}
        for name in os.listdir(self.dir):
            m = re.match(r"^sub-(\d+)\.txt$", name)
            if m:
                with open(os.path.join(self.dir, name), "rb") as f:
                    found[int(m.group(1))] = f.read()
                with open(os.path.join(self.dir, "sub-%s.tid" %
                                       m.group(1))) as f:
                    tid, doing = f.read().split()
                if doing == "spin":
                    self._wait_in_user_space(int(tid))
                else:
                    self._wait_in_read(int(tid))
        if len(found) != 2:
            raise Fail("expected two subinterpreter oracles, found %s" %
                       sorted(found))
        return found

    def _wait_in_user_space(self, tid):
        """Its user time grows once it spins (past the write of its
        oracle)."""
        since = utime(self.pid, tid)
        deadline = time.monotonic() + TIMEOUT
        while utime(self.pid, tid) <= since + 1:
            if time.monotonic() > deadline:
                raise Fail("subinterpreter thread %d never spun" % tid)
            time.sleep(0.001)

    def _wait_in_read(self, tid):
        deadline = time.monotonic() + TIMEOUT
        path = "/proc/%d/task/%d/syscall" % (self.pid, tid)
        while True:
            with open(path) as f:
                if f.read().split()[0] == str(READ_NR):
                    return
            if time.monotonic() > deadline:
                raise Fail("subinterpreter thread %d never slept in read()"
                           % tid)
            time.sleep(0.001)

    def finish(self):
        """faulthandler's dump of the main interpreter, then a clean
        exit; returns the dump as pyfault-attach is to print it."""
        os.kill(self.pid, signal.SIGUSR1)
        expect_byte(self.rfd, b"d", "faulthandler's dump (SIGUSR1)",
                    self.log)
        status = pyinterps.end_by_signal(self.proc, signal.SIGUSR2,
                                          self.pid)
        if status != 0:
            raise Fail("target exited with %r after the dump; log:\n%s" % (
                status, read_log(self.log)))
        with open(os.path.join(self.dir, "main.txt"), "rb") as f:
            oracle = f.read()
        if not oracle:
            raise Fail("faulthandler wrote an empty oracle")
        # No GIL, or none holds it: no thread is current to pyfault-attach
        # (see test_attach.py).
        if self.free_threaded or self.main_blocked:
            oracle = oracle.replace(b"Current thread 0x", b"Thread 0x")
        return oracle


def utime(pid, tid):
    """Clock ticks tid spent in user space (proc(5), stat field 14)."""
    with open("/proc/%d/task/%d/stat" % (pid, tid), "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[11])


def expected_sections(sections):
    return b"".join(b"\nInterpreter %d:\n%s" % (iid, sections[iid])
                    for iid in sorted(sections))


def parse_frames(text):
    frames = []
    for line in text.decode().splitlines()[1:]:
        m = FRAME.match(line)
        if not m:
            raise Fail("oracle line %r is not a frame" % line)
        frames.append({"file": m.group(1), "line": int(m.group(2)),
                       "name": m.group(3)})
    return frames


def thread_of(section):
    """The thread id in the header of a section's thread."""
    return re.search(rb"0x[0-9a-f]{16}", section).group(0)


def check_json(doc, sections, what):
    subs = {i["id"] for i in doc["interpreters"] if not i["main"]}
    if subs != set(sections) or doc["interpreters"][0]["id"] != 0:
        raise Fail("%s: interpreters %r, oracles of %s" % (
            what, doc["interpreters"], sorted(sections)))
    for iid, text in sections.items():
        threads = [t for t in doc["threads"] if t["interpreter_id"] == iid]
        want_id = int(thread_of(text), 16)
        if len(threads) != 1 or threads[0]["thread_id"] != want_id or \
                [dict((k, f[k]) for k in ("file", "line", "name"))
                 for f in threads[0]["frames"]] != parse_frames(text) or \
                threads[0]["current"] != text.startswith(b"Current"):
            raise Fail("%s: interpreter %d: threads %r, oracle:\n%s" % (
                what, iid, threads, text.decode()))


def check_status(out, sections, what):
    header = out.split(b"\n\n", 1)[0].split(b"\n")
    for iid, text in sections.items():
        thread = thread_of(text)
        at = header.index(b"Interpreter %d:" % iid) \
            if b"Interpreter %d:" % iid in header else -1
        if at < 0 or not header[at + 1].startswith(
                b"  Thread " + thread + b": tid "):
            raise Fail("%s: no line for thread %s under \"Interpreter "
                       "%d:\":\n%s" % (what, thread.decode(), iid,
                                       b"\n".join(header).decode()))


def t_attach(interp, api, loaded=False):
    res = Resources()
    try:
        if loaded:
            start_cpu_load(res)
        target = Target(res, interp, api)
        sections = target.sections()
        pid = str(target.pid)
        out = run_quiet([ATTACH, pid], "pyfault-attach")
        main_only = run_quiet([ATTACH, "--main-interpreter-only", pid],
                              "pyfault-attach --main-interpreter-only")
        doc_text = run_quiet([ATTACH, "--format", "json", pid],
                             "pyfault-attach --format json")
        status = run_quiet([ATTACH, "--status", pid],
                           "pyfault-attach --status")
        oracle = target.finish()
        pyinterps.check_same(oracle, main_only,
                             "--main-interpreter-only",
                             "pyfault-attach (actual)")
        pyinterps.check_same(oracle + expected_sections(sections), out,
                             "pyfault-attach", "pyfault-attach (actual)",
                             "faulthandler and the subinterpreters")
        try:
            docs = json_check.documents(doc_text, "pyfault-attach")
        except (ValueError, json_check.SchemaError) as exc:
            raise Fail("--format json: %s" % exc)
        check_json(docs[0], sections, "--format json")
        check_status(status, sections, "--status")
        print("  %s %s: interpreters %s" % (
            interp.label, api, ", ".join(map(str, sorted(sections)))))
    finally:
        res.release()


def t_watch(interp, api):
    res = Resources()
    target = None
    try:
        target = Target(res, interp, api, [WATCH, "--"])
        sections = target.sections()
        watcher = target.proc
        watcher.send_signal(signal.SIGUSR1)
        want = expected_sections(sections)
        err = pyinterps.read_until(
            watcher.stderr, lambda err: err.endswith(want),
            "pyfault-watch's dump does not end with the subinterpreters' "
            "sections:\n%s" % want.decode("utf-8", "replace"))
        if SECTION.split(err)[0].count(b"Interpreter ") or \
                len(SECTION.findall(err)) != len(sections):
            raise Fail("pyfault-watch: sections out of place:\n%s" %
                       err.decode("utf-8", "replace"))
    finally:
        pyinterps.end_watched(res, target)


def apis(interp):
    """"current" needs a GIL of each interpreter's own (3.12+, not
    free-threaded)."""
    return ["low"] + (["current"] if interp.version >= (3, 12) and
                      not interp.free_threaded else []) + (
        ["public", "pool"] if interp.version >= (3, 14) else [])


def make_tests(suite):
    global ATTACH, WATCH, TMPDIR
    ATTACH, WATCH, TMPDIR = suite.attach, suite.watch, suite.tmpdir
    tests = []
    for i in suite.full:
        for api in apis(i):
            tests.append(("%s attach-%s" % (i.label, api),
                          (lambda i=i, a=api: t_attach(i, a)), i))
            tests.append(("%s watch-%s" % (i.label, api),
                          (lambda i=i, a=api: t_watch(i, a)), i))
        tests.append(("%s attach-low-loaded" % i.label,
                      (lambda i=i: t_attach(i, "low", True)), i))
    return tests


def main():
    signal.pthread_sigmask(signal.SIG_BLOCK, {READY_SIG})
    return pyinterps.suite_main(
        __doc__, "pyfault-interp-", make_tests, lambda i: (
            "no module to run subinterpreters from Python before 3.8 "
            "(_xxsubinterpreters)" if i.version < (3, 8) else None))


if __name__ == "__main__":
    sys.exit(main())
