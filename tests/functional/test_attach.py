#!/usr/bin/env python3
"""Functional tests of pyfault-attach against every CPython on this machine.

    python3 tests/functional/test_attach.py --attach src/pyfault-attach [--keep]

Each scenario starts tests/functional/target_threads.py under an interpreter,
runs pyfault-attach on it, then makes the target's own faulthandler write the
same dump (SIGUSR1) and compares the two byte for byte.  See the docstring of
target_threads.py for why the two dumps cannot differ.  On 2.7, which has no
faulthandler (and whose backport cannot be installed here), target_py27.py
writes the oracle itself from sys._current_frames(), in the backport's
format; see its docstring.

Options:
  --attach PATH        the pyfault-attach binary (required)
  --keep               keep the temporary directory (oracles, outputs, logs)
  --only SUBSTRING     run only the tests whose name contains SUBSTRING
                       (repeatable)
  --race-iterations N  runs of the "exits while attached" test, half idle,
                       half under load (308: every interpreter and way of
                       ending twice each way); a quarter as many for
                       "exits while recorded" (pyfault-record)

Stdlib only; runs on Python 3.8+.  The last line of output is
"N passed, N failed, N skipped"; the exit status is 1 on any failure.
"""
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import exit_race
import json_check
import pyinterps
from pyinterps import (TIMEOUT, Fail, Skip, Resources, expect_byte, read_log,
                       task_states)

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "target_threads.py")
# 2.7 has no faulthandler: its target writes the oracle itself, in the
# format of the faulthandler backport (see its docstring).
TARGET_PY27 = os.path.join(HERE, "target_py27.py")


def target_for(interp):
    return TARGET_PY27 if interp.version[0] == 2 else TARGET
PREFIX = b"pyfault-attach: "
# Sent by a target's spinning main thread once it holds the GIL for good
# (blocked here, collected with sigtimedwait; real-time signals queue).
READY_SIG = signal.SIGRTMIN + 2

ATTACH = None
RECORD = None             # pyfault-record, built next to ATTACH
OPTS = None
TMPDIR = None
_counter = itertools.count(1)


def tmp_path(stem):
    return os.path.join(TMPDIR, "%03d-%s" % (next(_counter), stem))


def wait_ready_signal(proc, log):
    deadline = time.monotonic() + TIMEOUT
    while True:
        info = signal.sigtimedwait([READY_SIG], 0.05)
        if info is not None:
            if info.si_pid == proc.pid:
                return
            continue        # left over by an earlier target
        if proc.poll() is not None:
            raise Fail("target %d exited (status %d) before it was ready; "
                       "log:\n%s" % (proc.pid, proc.returncode, read_log(log)))
        if time.monotonic() > deadline:
            raise Fail("timeout (%d s) waiting for target %d's ready signal; "
                       "log:\n%s" % (TIMEOUT, proc.pid, read_log(log)))


def wait_all_sleeping(pid):
    """Polls /proc until every thread of pid sleeps (no GIL holder left).

    No primitive tells that the main thread has gone from its readiness
    write into the blocking call that follows it on the same line."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        states = task_states(pid)
        if states and all(s == "S" for s, _ in states.values()):
            return
        if time.monotonic() > deadline:
            raise Fail("threads of %d never all slept: %r" % (pid, states))
        time.sleep(0.001)


def check_detached(pid):
    for tid, (state, tracer) in task_states(pid).items():
        if tracer != 0 or state in "tT":
            raise Fail("after pyfault-attach, thread %d of %d is in state %s "
                       "with TracerPid %d: not detached" % (tid, pid, state,
                                                            tracer))


class Target:
    """target_threads.py under one interpreter, ready when constructed."""

    def __init__(self, res, interp, scenario="nested", main_blocked=False,
                 env=None):
        self.res = res
        self.free_threaded = interp.free_threaded
        self.oracle = tmp_path("oracle-%s-%s.txt" % (interp.label,
                                                     scenario.replace(",", "+")))
        self.log = self.oracle[:-4] + ".log"
        self.rfd, wfd = res.pipe()
        cmd = [interp.path, target_for(interp), "--ready-fd", str(wfd),
               "--oracle", self.oracle, "--scenario", scenario]
        if main_blocked:
            cmd.append("--main-blocked")
        else:
            cmd += ["--notify", "%d:%d" % (os.getpid(), READY_SIG)]
        with open(self.log, "wb") as log:
            self.proc = res.popen(cmd, pass_fds=[wfd], stdout=log,
                                  stderr=subprocess.STDOUT, env=env)
        res.close(wfd)
        self.pid = self.proc.pid
        expect_byte(self.rfd, b"r", "target %s to be ready" % scenario,
                    self.log)
        if main_blocked:
            wait_all_sleeping(self.pid)
        else:
            wait_ready_signal(self.proc, self.log)

    def finish(self):
        """Oracle dump, then a clean exit; returns the oracle bytes, as
        pyfault-attach is to print them."""
        if self.proc.poll() is not None:
            raise Fail("target %d died (status %s) after pyfault-attach; "
                       "log:\n%s" % (self.pid, self.proc.returncode,
                                     read_log(self.log)))
        check_detached(self.pid)
        os.kill(self.pid, signal.SIGUSR1)
        expect_byte(self.rfd, b"d", "faulthandler's dump (SIGUSR1)", self.log)
        status = pyinterps.end_by_signal(self.proc, signal.SIGUSR2,
                                          self.pid)
        if status is None:
            raise Fail("target %d did not exit after SIGUSR2; log:\n%s" % (
                self.pid, read_log(self.log)))
        if status != 0:
            raise Fail("target %d exited with status %d after the dump; "
                       "log:\n%s" % (self.pid, status, read_log(self.log)))
        with open(self.oracle, "rb") as f:
            oracle = f.read()
        if not oracle:
            raise Fail("faulthandler wrote an empty oracle")
        # A free-threaded build has no GIL holder, so no thread is current
        # to pyfault-attach; faulthandler.register() calls the thread that
        # runs its handler current.
        return no_current(oracle) if self.free_threaded else oracle


def no_current(oracle):
    return oracle.replace(b"Current thread 0x", b"Thread 0x")


# ----------------------------------------------------------------- checks --

WARNING = re.compile(rb"^pyfault-attach: warning: process \d+ runs Python "
                     rb"3\.\d+, newer than any this pyfault knows [^\n]*\n",
                     re.M)


def run_attach(args, timeout=TIMEOUT, pre=(), interp=None, targets=1):
    """interp: the targets' interpreter; one newer than pyfault knows must
    be read with one warning per target, removed from stderr here."""
    cmd = list(pre) + [ATTACH] + [str(a) for a in args]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail("`%s` hung (no exit within %d s)" % (" ".join(cmd), timeout))
    if proc.returncode < 0:
        raise Fail("`%s` was killed by signal %d; stderr: %r" % (
            " ".join(cmd), -proc.returncode, proc.stderr))
    warnings = len(WARNING.findall(proc.stderr))
    wanted = targets if interp and interp.newer_than_known else 0
    if proc.returncode == 0 and warnings != wanted:
        raise Fail("`%s`: expected %d version warning(s) on stderr, got %r"
                   % (" ".join(cmd), wanted, proc.stderr))
    proc.stderr = WARNING.sub(b"", proc.stderr)
    return proc


def describe(proc):
    return "status %d, stderr %r" % (proc.returncode,
                                     proc.stderr.decode("utf-8", "replace"))


def check_status(proc, expected, what):
    if proc.returncode not in expected:
        raise Fail("%s: expected status %s, got %s; stdout %r" % (
            what, "/".join(map(str, sorted(expected))), describe(proc),
            proc.stdout[:300]))


def check_error_line(proc, what, must_contain=None):
    err = proc.stderr
    lines = err.split(b"\n")
    if not err.endswith(b"\n") or len(lines) != 2 or not err.startswith(PREFIX):
        raise Fail("%s: stderr must be one line starting with %r, got %r" % (
            what, PREFIX.decode(), err))
    if must_contain and not any(s.encode() in err for s in must_contain):
        raise Fail("%s: the message should mention %s: %r" % (
            what, " or ".join(must_contain), err))


def check_same(expected, actual, what):
    pyinterps.check_same(expected, actual, what, "pyfault-attach (actual)")


def save(name, data):
    path = tmp_path(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def main_thread_frames(oracle):
    blocks = oracle.split(b"\n\n")
    current = [b for b in blocks if b.startswith(b"Current thread 0x")]
    if len(current) != 1:
        raise Fail("oracle has %d 'Current thread' blocks, expected 1:\n%s" % (
            len(current), oracle.decode("utf-8", "backslashreplace")))
    body = current[0].split(b"\n", 1)[1]
    return body if body.endswith(b"\n") else body + b"\n"


# ------------------------------------------------------- per-interpreter ----

def attach_and_compare(interp, scenario, main_blocked=False, times=1,
                       options=()):
    res = Resources()
    try:
        target = Target(res, interp, scenario, main_blocked)
        outs = [run_attach(list(options) + [target.pid], interp=interp)
                for _ in range(times)]
        oracle = target.finish()
        save("out-%s-%s.txt" % (interp.label, scenario), outs[0].stdout)
        if main_blocked:
            if b"Current thread" in outs[0].stdout:
                raise Fail("no thread holds the GIL, yet pyfault-attach "
                           "printed a 'Current thread'")
            oracle = no_current(oracle)
        for n, out in enumerate(outs, 1):
            check_status(out, {0}, "attach #%d" % n)
            check_same(oracle, out.stdout, "attach #%d" % n)
        return outs, oracle
    finally:
        res.release()


def t_nested(interp):
    # Twice: the second run also shows that the first detached cleanly.
    attach_and_compare(interp, "nested", times=2)


def t_deep(interp):
    attach_and_compare(interp, "deep")


def t_names(interp):
    attach_and_compare(interp, "names")


def t_noframe(interp):
    attach_and_compare(interp, "noframe")


def t_everything(interp):
    attach_and_compare(interp, "nested,deep,names,noframe")


def t_many_threads(interp):
    """105 more threads: faulthandler shows the 100 newest then "...", not
    the main thread that holds the GIL; --current-thread-only finds it past
    them (the frames of its line, the same as in the nested scenario)."""
    if interp.version[0] == 2:
        raise Skip("Python 2.7: target_py27.py renders no dump past the "
                   "backport's 100 threads")
    _, oracle = attach_and_compare(interp, "nested,many")
    if not oracle.endswith(b"\n\n...\n") or b"Current thread" in oracle:
        raise Fail("oracle: expected 100 threads, none current, then "
                   "'...'; got %r" % oracle[-300:])
    res = Resources()
    try:
        target = Target(res, interp, "nested,many")
        out = run_attach(["--current-thread-only", target.pid],
                         interp=interp)
        target.finish()
        if interp.free_threaded:
            check_no_current(out, "--current-thread-only, free-threaded")
            return
        check_status(out, {0}, "--current-thread-only")
        target = Target(res, interp, "nested")
        frames = main_thread_frames(target.finish())
    finally:
        res.release()
    check_same(b"Stack (most recent call first):\n" + frames, out.stdout,
               "--current-thread-only, 105 more threads")


def t_main_blocked(interp):
    attach_and_compare(interp, "nested,noframe", main_blocked=True)


def t_verbose(interp):
    outs, _ = attach_and_compare(interp, "nested", options=["-v"])
    source = re.search(rb"offsets from (.*)", outs[0].stderr)
    if not source:
        raise Fail("-v did not say where the offsets came from: %r"
                   % outs[0].stderr)
    print("  %s: offsets from %s" % (interp.label, source.group(1).decode()))


def dwarf_offsets_expected(interp):
    """Whether --offsets=dwarf can read interp: not a version newer than
    pyfault knows, read only through its debug offsets, nor 3.14t, whose
    per-thread bytecode only they describe."""
    return not interp.newer_than_known and not (
        interp.free_threaded and interp.version >= (3, 14))


def t_offsets_sources(interp):
    """Each source alone gives faulthandler's bytes; where a source has
    nothing for this build, pyfault says so with status 7."""
    debug_offsets_expected = interp.version >= (3, 13)
    dwarf_expected = dwarf_offsets_expected(interp)
    for source, must_work in (("debug-offsets", debug_offsets_expected),
                              ("dwarf", dwarf_expected),
                              # The tables describe release GIL builds of
                              # 3.8 to 3.13.
                              ("table", not interp.debug and
                               not interp.free_threaded and
                               interp.version < (3, 14))):
        res = Resources()
        try:
            target = Target(res, interp, "nested,deep,names,noframe")
            out = run_attach(["-v", "--offsets=" + source, target.pid],
                             interp=interp)
            oracle = target.finish()
            if not must_work:
                check_status(out, {7}, "--offsets=%s" % source)
                check_error_line(out, "--offsets=%s" % source)
                continue
            check_status(out, {0}, "--offsets=%s" % source)
            check_same(oracle, out.stdout, "--offsets=%s" % source)
            line = re.search(rb"offsets from (.*)", out.stderr)
            print("  %s --offsets=%s: %s" % (interp.label, source,
                                             line.group(1).decode()))
        finally:
            res.release()


def attach_json(interp, scenario, main_blocked=False, options=()):
    """--format json: one document, on one line, that python3 -m json.tool
    takes and that follows the schema, with the oracle's threads, thread
    ids, current thread and frames (json_check.canonical)."""
    res = Resources()
    try:
        target = Target(res, interp, scenario, main_blocked)
        out = run_attach(["--format", "json"] + list(options) + [target.pid])
        oracle = target.finish()
        what = " ".join(["--format json"] + list(options))
        save("out-%s-%s.json" % (interp.label, scenario), out.stdout)
        check_status(out, {0}, what)
        tool = subprocess.run([sys.executable, "-m", "json.tool"],
                              input=out.stdout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=TIMEOUT)
        if tool.returncode != 0:
            raise Fail("%s: python3 -m json.tool rejects it: %r" % (
                what, tool.stderr))
        try:
            docs = json_check.documents(out.stdout, "pyfault-attach")
            got = json_check.canonical(out.stdout, "pyfault-attach")
        except (ValueError, json_check.SchemaError) as exc:
            raise Fail("%s: %s" % (what, exc))
        if len(docs) != 1 or out.stdout.count(b"\n") != 1:
            raise Fail("%s: expected one document on one line: %r" % (
                what, out.stdout[:300]))
        doc = docs[0]
        if (doc["process"]["pid"], doc["reason"]["kind"]) != (
                target.pid, "attach") or not (
                doc["process"]["python_version"] + ".").startswith(
                    "%d.%d." % interp.version[:2]):
            raise Fail("%s: process %r, reason %r" % (
                what, doc["process"], doc["reason"]))
        # Nothing holds the GIL of a free-threaded build: no thread is
        # current (the oracle's is made a plain one by Target.finish).
        no_holder = main_blocked or interp.free_threaded
        if main_blocked:
            oracle = oracle.replace(b"Current thread 0x", b"Thread 0x")
        if "--current-thread-only" in options and no_holder:
            if doc["threads"] or out.stderr.count(b"\n") != 1:
                raise Fail("%s: no current thread: expected no thread and "
                           "a one-line notice on stderr; %r, %r" % (
                               what, doc["threads"], out.stderr))
            return
        if "--current-thread-only" in options:
            oracle = (b"Stack (most recent call first):\n" +
                      main_thread_frames(oracle))
        check_same(json_check.canonical(oracle), got,
                   what + " (canonical form)")
        holders = [t for t in doc["threads"] if t["holds_gil"]]
        if no_holder != (not holders) or any(
                t["state"] == "unknown" or t["tid"] is None
                for t in doc["threads"]):
            raise Fail("%s: thread states %r" % (what, [
                (t["tid"], t["holds_gil"], t["state"])
                for t in doc["threads"]]))
    finally:
        res.release()


def t_json(interp):
    attach_json(interp, "nested,deep,names,noframe")


def t_json_main_blocked(interp):
    attach_json(interp, "nested,noframe", main_blocked=True)


def t_json_current_only(interp):
    attach_json(interp, "nested,noframe",
                options=["--current-thread-only"])


def t_current_only(interp):
    res = Resources()
    try:
        target = Target(res, interp, "nested,noframe")
        out = run_attach(["--current-thread-only", target.pid],
                         interp=interp)
        oracle = target.finish()
        if interp.free_threaded:
            check_no_current(out, "--current-thread-only, free-threaded")
            return
        check_status(out, {0}, "--current-thread-only")
        expected = b"Stack (most recent call first):\n" + main_thread_frames(
            oracle)
        check_same(expected, out.stdout, "--current-thread-only")
    finally:
        res.release()


def t_current_only_no_gil(interp):
    res = Resources()
    try:
        target = Target(res, interp, "nested", main_blocked=True)
        out = run_attach(["--current-thread-only", target.pid],
                         interp=interp)
        target.finish()
        check_no_current(out, "--current-thread-only without a GIL holder")
    finally:
        res.release()


def check_no_current(out, what):
    check_status(out, {0}, what)
    if out.stdout:
        raise Fail("%s: no thread holds the GIL: stdout should be empty, got "
                   "%r" % (what, out.stdout[:500]))
    if out.stderr.count(b"\n") != 1 or not out.stderr.endswith(b"\n"):
        raise Fail("%s: expected a one-line notice on stderr, got %r"
                   % (what, out.stderr))


def t_output_append(interp):
    res = Resources()
    try:
        target = Target(res, interp, "nested")
        path = tmp_path("append-%s.txt" % interp.label)
        prefix = b"line written before pyfault-attach\n"
        with open(path, "wb") as f:
            f.write(prefix)
        first = run_attach(["-o", path, target.pid], interp=interp)
        second = run_attach(["--output", path, target.pid], interp=interp)
        oracle = target.finish()
        for n, out in ((1, first), (2, second)):
            check_status(out, {0}, "-o run #%d" % n)
            if out.stdout:
                raise Fail("-o run #%d also wrote on stdout: %r" % (
                    n, out.stdout[:300]))
        with open(path, "rb") as f:
            data = f.read()
        check_same(prefix + oracle + oracle, data, "file after two -o runs")
    finally:
        res.release()


def t_two_pids(interp):
    res = Resources()
    try:
        one = Target(res, interp, "nested")
        two = Target(res, interp, "noframe,deep")
        out = run_attach([one.pid, two.pid], interp=interp, targets=2)
        oracle1 = one.finish()
        oracle2 = two.finish()
        check_status(out, {0}, "two PIDs")
        expected = (b"Process %d:\n" % one.pid + oracle1 + b"\n" +
                    b"Process %d:\n" % two.pid + oracle2)
        check_same(expected, out.stdout, "two PIDs")
    finally:
        res.release()


def libpython_of(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            path = line.split(None, 5)[-1].strip()
            if re.match(r"libpython[23]\.\d+m?\.so", os.path.basename(path)):
                return path
    return None


def t_stripped_symbols(interp):
    """2.7 and 3.6 have no _PyRuntime: without the interp_head symbol (a
    libpython stripped of .symtab and DWARF), pyfault finds the interpreter
    by a validated scan of the library's data, with the shipped table's
    offsets."""
    if interp.debug:
        raise Skip("no shipped table for debug builds")
    strip = shutil.which("strip")
    if not strip:
        raise Skip("strip (binutils) not found")
    res = Resources()
    try:
        probe = Target(res, interp, "nested")
        lib = libpython_of(probe.pid)
        probe.finish()
        if lib is None:
            raise Skip("%s does not use a shared libpython" % interp.path)
        libdir = tmp_path("stripped-%s" % interp.label)
        os.mkdir(libdir)
        stripped = os.path.join(libdir, os.path.basename(lib))
        subprocess.check_call([strip, "--strip-all", "-o", stripped, lib])
        env = dict(os.environ, LD_LIBRARY_PATH=libdir)
        target = Target(res, interp, "nested,deep,names,noframe", env=env)
        if libpython_of(target.pid) != stripped:
            target.finish()
            raise Skip("the loader ignored LD_LIBRARY_PATH for %s (RPATH?)"
                       % interp.path)
        # The copy keeps its build-id: the cache would give the DWARF
        # offsets an earlier test found in the original.
        out = run_attach(["-v", "--no-cache", target.pid])
        oracle = target.finish()
        check_status(out, {0}, "stripped libpython")
        check_same(oracle, out.stdout, "stripped libpython")
        if b"offsets from shipped table" not in out.stderr:
            raise Fail("expected the shipped table's offsets: %r"
                       % out.stderr)
    finally:
        res.release()


PER_INTERP = [
    ("nested", t_nested),
    ("deep-recursion", t_deep),
    ("long-and-non-ascii-names", t_names),
    ("no-python-frame", t_noframe),
    ("everything-at-once", t_everything),
    ("main-blocked-no-gil", t_main_blocked),
    ("verbose", t_verbose),
    ("offsets-sources", t_offsets_sources),
    ("current-thread-only", t_current_only),
    ("current-thread-only-no-gil", t_current_only_no_gil),
    ("105-threads", t_many_threads),
    ("output-append", t_output_append),
    ("two-pids", t_two_pids),
    ("json", t_json),
    ("json-main-blocked-no-gil", t_json_main_blocked),
    ("json-current-thread-only", t_json_current_only),
]
# Only where there is no _PyRuntime to start from.
PER_INTERP_BEFORE_37 = [
    ("stripped-symbols-scan", t_stripped_symbols),
]


def t_unsupported(interp):
    res = Resources()
    try:
        prog = ("import os\nos.write(1, b'r')\nos.read(0, 1)\n")
        proc = res.popen([interp.path, "-c", prog], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        expect_byte(proc.stdout.fileno(), b"r", "%s to start" % interp.label)
        out = run_attach([proc.pid])
        check_status(out, {6}, "Python %s" % interp.vstr)
        check_error_line(out, "Python %s" % interp.vstr,
                         ["%d.%d" % interp.version[:2]])
        check_detached(proc.pid)
        proc.stdin.close()
        if proc.wait(timeout=TIMEOUT) != 0:
            raise Fail("the %s process exited with %d after pyfault-attach"
                       % (interp.vstr, proc.returncode))
    finally:
        res.release()


# ------------------------------------------------------------ error cases ---

def t_not_python():
    res = Resources()
    try:
        proc = res.popen(["cat"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
        # cat is ready once it echoes a line back.
        proc.stdin.write(b"x\n")
        proc.stdin.flush()
        expect_byte(proc.stdout.fileno(), b"x", "cat to start")
        out = run_attach([proc.pid])
        check_status(out, {5}, "cat")
        check_error_line(out, "cat")
        check_detached(proc.pid)
    finally:
        res.release()


def dead_pid():
    for _ in range(10):
        proc = subprocess.Popen(["true"])
        proc.wait()
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return proc.pid
    raise Fail("could not find a free PID")


def t_no_such_process():
    pid = dead_pid()
    out = run_attach([pid])
    check_status(out, {3}, "PID %d that does not exist" % pid)
    check_error_line(out, "no such process", [str(pid)])


def t_zombie():
    res = Resources()
    try:
        proc = res.popen([sys.executable, "-c", "pass"])
        # Wait for its exit without reaping it: it stays a zombie.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        with open("/proc/%d/stat" % proc.pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state != "Z":
            raise Fail("child %d is in state %s, not a zombie" % (proc.pid,
                                                                 state))
        out = run_attach([proc.pid])
        check_status(out, {3, 8}, "zombie")
        check_error_line(out, "zombie")
    finally:
        res.release()


# The target ends this long at most after pyfault-attach has started: its
# run (a few milliseconds with the offsets cached) falls in that window,
# where the hang of issue 10 was seen.
RACE_WINDOW = 0.008


def race_once(tool, interp, way, n, rng, what):
    """One run of the exit race of tool (pyfault-attach or pyfault-record);
    returns its status."""
    res = Resources()
    name = os.path.basename(tool)
    try:
        target, go_fd = exit_race.start_target(
            res, interp.path, way, tmp_path("race-%d.log" % n))
        image = tmp_path("race-%d.image" % n)
        argv = [tool, str(target.pid)] + (
            [image] if name == "pyfault-record" else [])
        out_r, out_w, out_fill = exit_race.full_pipe(res)
        err_r, err_w, err_fill = exit_race.full_pipe(res)
        delay = rng.uniform(0, RACE_WINDOW)
        what += ", ended %.1f ms after %s started" % (delay * 1e3, name)
        started = time.monotonic()
        proc = res.popen(argv, stdout=out_w, stderr=err_w)
        res.close(out_w)
        res.close(err_w)
        exit_race.spin_until(started + delay)
        exit_race.end_target(res, target.pid, go_fd, way)
        if exit_race.wait_blocked_or_done(proc, started, what, target.pid):
            exit_race.check_released(target.pid, proc.pid, what)
        took = time.monotonic() - started
        stdout, stderr = exit_race.drain([out_r, err_r], [out_fill, err_fill],
                                         started, what)
        status = proc.wait(timeout=TIMEOUT)
        accepted = {0, 3, 8} | ({10} if way[0] in exit_race.FINALIZING
                                else set())
        if status not in accepted:
            raise Fail("%s: status %d (accepted: %s); stderr %r" % (
                what, status, sorted(accepted), stderr))
        if status == 0 and name == "pyfault-attach" and not re.match(
                br"^(Current thread|Thread) 0x[0-9a-f]{16} ", stdout):
            raise Fail("%s: status 0 but stdout is not a dump: %r" % (
                what, stdout[:300]))
        if status == 0 and name == "pyfault-record" and not (
                os.path.isfile(image) and os.path.getsize(image)):
            raise Fail("%s: status 0 but no image written" % what)
        prefix = name.encode() + b": "
        if status != 0 and (not stderr.startswith(prefix)
                            or stderr.count(b"\n") != 1
                            or not stderr.endswith(b"\n")):
            raise Fail("%s: status %d, and stderr is not one line starting "
                       "with %r: %r" % (what, status, prefix.decode(),
                                        stderr))
        if took >= exit_race.PYFAULT_WAIT_LIMIT:
            raise Fail("%s: %s took %.1f s, its own limit of a wait the "
                       "target's end should have ended" % (what, name, took))
        exit_race.check_target_end(target, way, what)
        return status
    finally:
        res.release()


def t_exit_race(full, tool, iterations):
    """The target ends while tool dumps it, in every way it can, on every
    interpreter, idle and under load (exit_race.run_races)."""
    if not os.access(tool, os.X_OK):
        raise Fail("%s not built" % tool)
    rng = random.Random()
    summary = exit_race.run_races(
        full, iterations, lambda interp, way, n, what, busy: "status %d" % (
            race_once(tool, interp, way, n, rng, what)))
    print("    %s: %s" % (os.path.basename(tool), summary))


def t_usage():
    cases = [([], "no PID"), (["--no-such-option", "1"], "unknown option"),
             (["not-a-pid"], "non-numeric PID"), (["-o"], "-o without FILE"),
             (["--output"], "--output without FILE")]
    for args, what in cases:
        out = run_attach(args)
        check_status(out, {2}, what)
        if not out.stderr.startswith(PREFIX):
            raise Fail("%s: stderr should start with %r: %r" % (
                what, PREFIX.decode(), out.stderr))


def t_help_version():
    for opt in ("--help", "--version"):
        out = run_attach([opt])
        check_status(out, {0}, opt)
        if not out.stdout.strip():
            raise Fail("%s printed nothing on stdout" % opt)


def t_permission(python):
    if os.geteuid() != 0:
        raise Skip("needs root to start a target as another user")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv (util-linux) not found")
    res = Resources()
    try:
        prog = "import os\nos.write(1, b'r')\nos.read(0, 1)\n"
        proc = res.popen([python.path, "-c", prog], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
        expect_byte(proc.stdout.fileno(), b"r", "root target to start")
        out = run_attach([proc.pid], pre=[setpriv, "--reuid=65534",
                                          "--regid=65534", "--clear-groups"])
        if out.returncode == 126 and not out.stderr.startswith(PREFIX):
            raise Skip("user nobody cannot execute %s" % ATTACH)
        check_status(out, {4}, "nobody attaching to a root process")
        check_error_line(out, "permission denied")
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)
    finally:
        res.release()


# ------------------------------------------------------------------ main ----


def race_options(parser):
    parser.add_argument("--race-iterations", type=int, default=308)


def make_tests(suite):
    global ATTACH, OPTS, RECORD, TMPDIR
    signal.pthread_sigmask(signal.SIG_BLOCK, {READY_SIG})
    ATTACH, OPTS, TMPDIR = suite.attach, suite.opts, suite.tmpdir
    RECORD = os.path.join(os.path.dirname(ATTACH), "pyfault-record")
    # The offset cache goes with the other temporary files, not in the
    # user's ~/.cache.
    os.environ["XDG_CACHE_HOME"] = os.path.join(TMPDIR, "cache")
    full = suite.full
    debian = next((i for i in full if i.path == "/usr/bin/python3"), full[0])
    tests = []
    for interp in full:
        tests += pyinterps.per_interp([interp], PER_INTERP + (
            PER_INTERP_BEFORE_37 if interp.version < (3, 7) else []))
    for interp in suite.unsupported:
        tests.append(("%s unsupported-version" % interp.label,
                      (lambda i=interp: t_unsupported(i)), interp))
    return tests + [
        ("error not-python", t_not_python, None),
        ("error no-such-process", t_no_such_process, None),
        ("error zombie", t_zombie, None),
        ("error permission-denied", lambda: t_permission(debian), None),
        ("error exits-while-attached",
         lambda: t_exit_race(full, ATTACH, OPTS.race_iterations), None),
        # pyfault-record stops and releases its target with the same code.
        ("error exits-while-recorded",
         lambda: t_exit_race(full, RECORD, OPTS.race_iterations // 4), None),
        ("usage errors", t_usage, None),
        ("usage --help --version", t_help_version, None),
    ]


def main():
    return pyinterps.suite_main(__doc__, "pyfault-functional-", make_tests,
                                commands=("attach",), options=race_options)


if __name__ == "__main__":
    sys.exit(main())
