#!/usr/bin/env python3
"""Functional tests of --native and --native=merged on every CPython here.

    python3 tests/functional/test_native.py --watch src/pyfault-watch \\
        --attach src/pyfault-attach [--keep] [--only SUBSTRING]

A C extension that the test builds for each interpreter (with its own
headers: sysconfig's include directory, e.g. pyenv's include/python3.X,
Debian's /usr/include/python3.11 or, for python3.11d, /usr/include/python3.11d;
cc -shared -fPIC -g -O1) segfaults two calls deep: crashext.crash() ->
crash_outer() -> crash_inner() -> a store through NULL, the two helpers
noinline.  A program calls it from py_outer() -> py_inner().

  crash-merged   pyfault-watch --native=merged: the current thread's stack is
                 crash_inner, crash_outer, crash (each named, from the
                 extension's file), then py_inner, py_outer, <module>, with
                 no C frame of the interpreter in between; its Python frames
                 are faulthandler's (python -X faulthandler, the oracle), in
                 order.
  crash-section  pyfault-watch --native: faulthandler's text unchanged, then
                 "Current thread's C stack trace (most recent call first):"
                 whose frames start with crash_inner, crash_outer, crash and
                 reach _PyEval_EvalFrameDefault; the Extension modules line
                 last, as 3.14 orders them.
  attach-blocked pyfault-attach --native, then --native=merged, on
                 tests/functional/target_threads.py with every thread asleep
                 (locks, os.read): the Python section is byte for byte the
                 target's own faulthandler dump (SIGUSR1, taken afterwards);
                 every thread has a C stack with a libc frame; merged, every
                 thread is merged and keeps its Python frames in order.
                 With libunwind unloadable (an empty libunwind-x86_64.so.8
                 first in LD_LIBRARY_PATH), and again with libdw
                 unloadable (libdw.so.1, loaded for the C frames' names),
                 --native still prints that Python section, exits 0 and
                 says in one line on stderr which package to install.
Thread ids differ between the pyfault and oracle runs of the crash program
and are replaced by a placeholder before comparing.  Waits are on pipes and
process exits only (and, for the blocked target, on /proc thread states).

Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import glob
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pyinterps
from pyinterps import (TIMEOUT, Fail, Skip, Resources, check_same,
                       expect_byte, read_log)

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "target_threads.py")

EXTENSION_C = r"""
#include <Python.h>

static volatile int *volatile nowhere;

__attribute__((noinline)) static int crash_inner(int depth)
{
	*nowhere = depth;
	return depth;
}

__attribute__((noinline)) static int crash_outer(int depth)
{
	int r = crash_inner(depth + 1);
	return r + 1;
}

static PyObject *crash(PyObject *self, PyObject *args)
{
	(void)self;
	(void)args;
	return PyLong_FromLong(crash_outer(1));
}

static PyMethodDef methods[] = {
	{"crash", crash, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "crashext", NULL, -1, methods,
};

PyMODINIT_FUNC PyInit_crashext(void)
{
	return PyModule_Create(&module);
}
"""

CRASH_PY = """\
import sys
sys.path.insert(0, sys.argv[1])
import crashext


def py_inner():
    crashext.crash()


def py_outer():
    py_inner()


py_outer()
"""

WATCH = None
# The Python name that --native=merged adds to a thread's header.
PYTHON_NAME = re.compile(rb' "[^"]*" \(most recent')

ATTACH = None
TMPDIR = None
_counter = itertools.count(1)
THREAD_ID = re.compile(rb"0x[0-9a-f]{16}")


def tmp_path(stem):
    return os.path.join(TMPDIR, "%03d-%s" % (next(_counter), stem))


def run(cmd, what, env=None):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        raise Fail("%s: `%s` hung" % (what, " ".join(cmd)))


# -------------------------------------------------------------- extension --

_built = {}


def build_extension(interp):
    """The directory holding crashext.so for interp, built once."""
    if interp.path in _built:
        return _built[interp.path]
    probe = run([interp.path, "-c",
                 "import sysconfig; print(sysconfig.get_paths()['include'])"],
                "include directory")
    include = probe.stdout.decode().strip()
    if probe.returncode != 0 or not os.path.isfile(
            os.path.join(include, "Python.h")):
        raise Skip("no Python.h for %s (in %r): install its headers "
                   "(Debian: python3-dev)" % (interp.label, include))
    cc = shutil.which("cc")
    if cc is None:
        raise Skip("no C compiler (cc)")
    outdir = tmp_path("ext-%s" % interp.label)
    os.mkdir(outdir)
    source = os.path.join(outdir, "crashext.c")
    with open(source, "w") as f:
        f.write(EXTENSION_C)
    out = run([cc, "-shared", "-fPIC", "-g", "-O1", "-I", include, source,
               "-o", os.path.join(outdir, "crashext.so")], "cc")
    if out.returncode != 0:
        raise Fail("building the extension for %s failed:\n%s" % (
            interp.label, out.stderr.decode(errors="replace")))
    _built[interp.path] = outdir
    return outdir


def crash_program():
    path = os.path.join(TMPDIR, "crash_program.py")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(CRASH_PY)
    return path


ORACLE_C_STACK = re.compile(rb"\nCurrent thread's C stack trace \(most "
                            rb"recent call first\):\n(?:  .*\n)*")


def oracle_crash(interp, extdir):
    out = run([interp.path, "-X", "faulthandler", crash_program(), extdir],
              "oracle")
    if out.returncode != -signal.SIGSEGV:
        raise Fail("the program under faulthandler ended with %d, not "
                   "SIGSEGV; stderr:\n%s" % (out.returncode,
                                             out.stderr.decode(errors="replace")))
    # 3.14's faulthandler prints its own C stack (c_stack=True): the
    # addresses of its own process, compared apart.
    return THREAD_ID.sub(b"0xTHREAD", ORACLE_C_STACK.sub(b"", out.stderr))


def watch_crash(interp, extdir, option):
    out = run([WATCH, option, "--", interp.path, crash_program(), extdir],
              "pyfault-watch %s" % option)
    if out.returncode != 128 + signal.SIGSEGV and \
            out.returncode != -signal.SIGSEGV:
        raise Fail("pyfault-watch %s ended with %d, not the program's "
                   "SIGSEGV; stderr:\n%s" % (option, out.returncode,
                                             out.stderr.decode(errors="replace")))
    dump = THREAD_ID.sub(b"0xTHREAD", out.stderr)
    with open(tmp_path("watch%s-%s.txt" % (option, interp.label)), "wb") as f:
        f.write(dump)
    return dump


def python_lines(text):
    return [l for l in text.split(b"\n") if l.startswith(b"  File ")]


def c_symbol(line):
    m = re.match(rb'  Binary file "([^"]*)", at ([^+]*)\+0x[0-9a-f]+ '
                 rb'\[0x[0-9a-f]+\]', line)
    return (m.group(1), m.group(2)) if m else (None, None)


def expect_extension_frames(lines, extdir, what):
    """The first three lines: crash_inner, crash_outer, crash, from the
    extension built in extdir."""
    want = [b"crash_inner", b"crash_outer", b"crash"]
    got = [c_symbol(l) for l in lines[:3]]
    so = os.path.join(extdir, "crashext.so").encode()
    if [s for _, s in got] != want or any(o != so for o, _ in got):
        raise Fail("%s: the stack should start with %s in %s; it starts "
                   "with:\n%s" % (what, ", ".join(w.decode() for w in want),
                                  so.decode(),
                                  b"\n".join(lines[:6]).decode(
                                      errors="replace")))


def t_crash_merged(interp):
    extdir = build_extension(interp)
    oracle = oracle_crash(interp, extdir)
    dump = watch_crash(interp, extdir, "--native=merged")
    blocks = dump.split(b"\n\n")
    current = [b for b in blocks if b.startswith(b"Current thread 0x")]
    if len(current) != 1:
        raise Fail("expected one 'Current thread' block:\n%s" %
                   dump.decode(errors="replace"))
    lines = current[0].split(b"\n")[1:]
    expect_extension_frames(lines, extdir, "merged stack")
    want_python = python_lines(oracle)
    if [l for l in lines[3:3 + len(want_python)]] != want_python:
        raise Fail("merged stack: after the extension's frames come the "
                   "Python frames of faulthandler's dump\n%s\nbut the "
                   "stack is:\n%s" % (
                       b"\n".join(want_python).decode(errors="replace"),
                       b"\n".join(lines).decode(errors="replace")))
    if python_lines(dump) != want_python:
        raise Fail("merged dump: Python frames differ from faulthandler's")
    if b"not merged" in dump:
        raise Fail("merged dump says it could not merge:\n%s" %
                   dump.decode(errors="replace"))
    lines_with_source = [l for l in lines[:3] if re.search(
        rb" \(.*crashext\.c:\d+\)$", l)]
    if len(lines_with_source) != 3:
        raise Fail("the extension's frames should end with their source "
                   "line (crashext.c:N):\n%s" %
                   b"\n".join(lines[:3]).decode(errors="replace"))


def t_crash_section(interp):
    extdir = build_extension(interp)
    oracle = oracle_crash(interp, extdir)
    dump = watch_crash(interp, extdir, "--native")
    header = b"\nCurrent thread's C stack trace (most recent call first):\n"
    if dump.count(header) != 1:
        raise Fail("expected one C stack section for the current thread:\n%s"
                   % dump.decode(errors="replace"))
    before, section = dump.split(header)
    trailer = b""
    if b"\nExtension modules: " in section:
        section, trailer = section.split(b"\nExtension modules: ")
        trailer = b"\nExtension modules: " + trailer
    check_same(oracle, before + trailer,
               "pyfault-watch --native without its C stack section",
               "pyfault-watch --native")
    lines = section.split(b"\n")
    expect_extension_frames(lines, extdir, "C stack section")
    if not any(c_symbol(l)[1] == b"_PyEval_EvalFrameDefault" for l in lines):
        raise Fail("the C stack section never reaches "
                   "_PyEval_EvalFrameDefault:\n%s" %
                   section.decode(errors="replace"))
    bad = [l for l in lines if l and not l.startswith(b"  Binary file ")]
    if bad:
        raise Fail("lines of the C stack section not in 3.14's format: %r"
                   % bad)


# ---------------------------------------------------------- hung target ----

def task_states(pid):
    states = {}
    for tdir in glob.glob("/proc/%d/task/*" % pid):
        try:
            with open(os.path.join(tdir, "status")) as f:
                m = re.search(r"^State:\s+(\S)", f.read(), re.M)
        except OSError:
            continue
        states[tdir] = m.group(1) if m else "?"
    return states


def wait_all_sleeping(pid):
    """No primitive tells that the main thread has gone from its readiness
    write into the blocking call on the same line: poll /proc."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        states = task_states(pid)
        if states and all(s == "S" for s in states.values()):
            return
        if time.monotonic() > deadline:
            raise Fail("threads of %d never all slept: %r" % (pid, states))
        time.sleep(0.001)


def split_sections(out):
    """(Python section, {thread id: C stack lines}) of a --native dump."""
    parts = re.split(rb"\n(?:Current thread's C stack trace|"
                     rb"C stack trace of thread (0x[0-9a-f]+)) "
                     rb"\(most recent call first\):\n", out)
    python, stacks = parts[0], {}
    for i in range(1, len(parts), 2):
        stacks[parts[i]] = parts[i + 1].rstrip(b"\n").split(b"\n")
    return python, stacks


def t_attach_blocked(interp):
    res = Resources()
    try:
        oracle_path = tmp_path("oracle-%s.txt" % interp.label)
        log = oracle_path[:-4] + ".log"
        rfd, wfd = res.pipe()
        with open(log, "wb") as logf:
            proc = res.popen([interp.path, TARGET, "--ready-fd", str(wfd),
                              "--oracle", oracle_path, "--scenario",
                              "nested,noframe", "--main-blocked"],
                             pass_fds=[wfd], stdout=logf,
                             stderr=subprocess.STDOUT)
        res.close(wfd)
        expect_byte(rfd, b"r", "target to be ready", log)
        wait_all_sleeping(proc.pid)
        section = run([ATTACH, "--native", str(proc.pid)], "attach --native")
        merged = run([ATTACH, "--native=merged", str(proc.pid)],
                     "attach --native=merged")
        unloadable = {
            package: run([ATTACH, "--native", str(proc.pid)],
                         "attach --native without " + soname,
                         env=pyinterps.without_library(
                             TMPDIR, soname))
            for soname, package in (("libunwind-x86_64.so.8", "libunwind8"),
                                    ("libdw.so.1", "libdw1"))}
        os.kill(proc.pid, signal.SIGUSR1)
        expect_byte(rfd, b"d", "faulthandler's dump (SIGUSR1)", log)
        if pyinterps.end_by_signal(proc, signal.SIGUSR2) != 0:
            raise Fail("target exited with %s; log:\n%s" % (
                proc.returncode, read_log(log)))
        with open(oracle_path, "rb") as f:
            oracle = f.read().replace(b"Current thread 0x", b"Thread 0x")
        for out, what in ((section, "--native"), (merged, "--native=merged")):
            if out.returncode != 0:
                raise Fail("attach %s: status %d, stderr %r" % (
                    what, out.returncode, out.stderr))
        with open(tmp_path("attach-native-%s.txt" % interp.label), "wb") as f:
            f.write(section.stdout + b"\n----\n" + merged.stdout)

        python, stacks = split_sections(section.stdout)
        check_same(oracle, python, "attach --native, Python section",
                   "pyfault-attach --native")
        for package, out in unloadable.items():
            errors = out.stderr.decode(errors="replace").splitlines()
            if (out.returncode != 0 or len(errors) != 1 or
                    package not in errors[0]):
                raise Fail("attach --native without %s: expected status 0 "
                           "and one line naming it, got %d %r" % (
                               package, out.returncode, out.stderr))
            check_same(oracle, split_sections(out.stdout)[0],
                       "attach --native without %s, Python section" %
                       package,
                       "pyfault-attach --native, %s unloadable" % package)
        threads = re.findall(rb"^Thread (0x[0-9a-f]{16})", oracle, re.M)
        if sorted(stacks) != sorted(threads):
            raise Fail("C stack sections for %r, threads are %r" % (
                sorted(stacks), sorted(threads)))
        for tid, lines in stacks.items():
            if not any(b"/libc.so" in l for l in lines):
                raise Fail("thread %s: no libc frame in its C stack:\n%s" % (
                    tid.decode(), b"\n".join(lines).decode(errors="replace")))

        if b"not merged" in merged.stdout:
            raise Fail("attach --native=merged could not merge:\n%s" %
                       merged.stdout.decode(errors="replace"))
        mblocks = merged.stdout.rstrip(b"\n").split(b"\n\n")
        oblocks = oracle.rstrip(b"\n").split(b"\n\n")
        if len(mblocks) != len(oblocks):
            raise Fail("merged dump has %d threads, faulthandler %d" % (
                len(mblocks), len(oblocks)))
        for mb, ob in zip(mblocks, oblocks):
            # The merged header adds the thread's Python name
            # (test_thread_names.py checks it).
            header = PYTHON_NAME.sub(b" (most recent",
                                     mb.split(b"\n")[0])
            if header != ob.split(b"\n")[0]:
                raise Fail("thread headers differ: %r vs %r" % (
                    mb.split(b"\n")[0], ob.split(b"\n")[0]))
            if python_lines(mb) != python_lines(ob):
                raise Fail("merged thread %s: Python frames differ from "
                           "faulthandler's:\n%s\n---\n%s" % (
                               mb.split(b"\n")[0].decode(),
                               mb.decode(errors="replace"),
                               ob.decode(errors="replace")))
            if not any(b"/libc.so" in l for l in mb.split(b"\n")):
                raise Fail("merged thread without a libc frame:\n%s" %
                           mb.decode(errors="replace"))
            hidden = [l for l in mb.split(b"\n")
                      if c_symbol(l)[1] == b"_PyEval_EvalFrameDefault"]
            if hidden:
                raise Fail("merged stack shows the evaluation loop: %r"
                           % hidden)
    finally:
        res.release()


def t_usage():
    out = run([ATTACH, "--native=sideways", "1"], "bad --native value")
    if out.returncode != 2 or b"--native" not in out.stderr:
        raise Fail("--native=sideways: expected status 2 and a message "
                   "naming --native, got %d %r" % (out.returncode, out.stderr))


# ------------------------------------------------------------------ main ----

def make_tests(suite):
    global WATCH, ATTACH, TMPDIR
    WATCH, ATTACH, TMPDIR = suite.watch, suite.attach, suite.tmpdir
    for interp in suite.unsupported:
        interp.mode = "skip"
        interp.reason = "pyfault does not read Python %d.%d" % \
            interp.version[:2]
    tests = [("usage", t_usage, None)]
    for interp in suite.full:
        for name, func in (("crash-merged", t_crash_merged),
                           ("crash-section", t_crash_section),
                           ("attach-blocked", t_attach_blocked)):
            tests.append(("%s-%s" % (name, interp.label),
                          (lambda f=func, i=interp: f(i)), interp))
    return tests


def main():
    return pyinterps.suite_main(
        __doc__, "pyfault-native-", make_tests,
        lambda i: i.version < (3,) and (
            "no faulthandler oracle and no Python 3 C API for the crashing "
            "extension on 2.7"), commands=("watch", "attach"))


if __name__ == "__main__":
    sys.exit(main())
