#!/usr/bin/env python3
"""Functional tests of pyfault on static and embedded interpreters.

    python3 tests/functional/test_embedded.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch [--keep] [--only SUBSTRING]

  * Static: an interpreter whose executable holds Python itself, with no
    libpython mapped (Debian's /usr/bin/python3.11 is one).  pyfault-attach
    -v must name the executable as the interpreter, and its dump must be
    faulthandler's.
  * Embedded: tests/functional/embed_python.c, built here against each
    interpreter's shared libpython with `pythonX.Y-config --embed` (pyenv's
    builds; Debian's libpython3.11 from libpython3.11-dev), runs Python in
    a thread it starts while its main thread waits in C.  It runs
    target_threads.py for pyfault-attach and watch_targets.py for
    pyfault-watch, and both are compared with faulthandler in the same
    embedded program, exactly as test_attach.py and test_watch.py do for
    python itself (their scenarios are reused).
  * Two libpythons: tests/functional/two_pythons.c dlopen()s two different
    libpythons; pyfault-attach refuses it with status 6 and one line naming
    both files, and leaves the process running.  So it does a static
    interpreter that has loaded a libpython as well (with ctypes).

Interpreters without a python-config that knows --embed (before 3.8) or
without a shared libpython are listed as skipped, with the reason.  Needs a C
compiler (cc, or $CC).  Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import os
import shlex
import shutil
import signal
import subprocess
import sys

import pyinterps
from pyinterps import TIMEOUT, Fail, Skip, Resources, expect_byte
import test_attach
import test_watch

HERE = os.path.dirname(os.path.abspath(__file__))
EMBED_SRC = os.path.join(HERE, "embed_python.c")
TWO_SRC = os.path.join(HERE, "two_pythons.c")

# Prints the libpython the interpreter maps ("-" if none: a static build),
# sysconfig's idea of its shared library ("-" if none), and sys.prefix.
MAPS_PROBE = r"""
import os, sys, sysconfig
with open('/proc/self/maps') as f:
    paths = [l.split(None, 5)[5].strip() for l in f if len(l.split(None, 5)) > 5]
mapped = [p for p in paths if os.path.basename(p).startswith('libpython')]
lib = os.path.join(sysconfig.get_config_var('LIBDIR') or '',
                   sysconfig.get_config_var('INSTSONAME') or '')
sys.stdout.write('%s\n%s\n%s\n' % (mapped[0] if mapped else '-',
                                   lib if os.path.isfile(lib) else '-',
                                   sys.prefix))
"""

TMPDIR = None
CC = None


class Build:
    """What this suite knows of one interpreter."""

    def __init__(self, interp):
        self.interp = interp
        out = subprocess.run([interp.path, "-c", MAPS_PROBE],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=TIMEOUT)
        lines = out.stdout.decode().split("\n")
        if out.returncode != 0 or len(lines) < 3:
            raise Fail("probe of %s failed: %r" % (interp.path, out.stderr))
        self.mapped = None if lines[0] == "-" else lines[0]
        self.shared_lib = None if lines[1] == "-" else lines[1]
        self.prefix = lines[2]
        # python3.11d-config beside python3.11d, python3.12-config beside
        # pyenv's python3.12.
        self.config = interp.real + "-config"
        self.binary = None


class Embedded:
    """embed_python built against one interpreter's libpython, standing in
    for that interpreter in test_attach's and test_watch's scenarios."""

    def __init__(self, interp, binary):
        self.path = binary
        self.version = interp.version
        self.debug = interp.debug
        self.free_threaded = interp.free_threaded
        self.newer_than_known = interp.newer_than_known
        self.label = "embed-" + interp.label


def compile_c(src, out, flags):
    cmd = [CC, "-o", out, src] + flags
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=120)
    if proc.returncode != 0:
        raise Fail("`%s` failed:\n%s" % (" ".join(cmd),
                                         proc.stdout.decode()[-3000:]))


def embedded(build):
    """The embed_python of build's interpreter, built on first use."""
    if build.binary:
        return Embedded(build.interp, build.binary)
    interp = build.interp
    if interp.version < (3, 8):
        raise Skip("python-config --embed and PyConfig exist from 3.8")
    if not os.path.exists(build.config):
        raise Skip("no %s (Debian: libpython%d.%d-dev)" % (
            build.config, *interp.version[:2]))
    if build.shared_lib is None and build.mapped is None:
        raise Skip("no shared libpython to embed")
    if CC is None:
        raise Skip("no C compiler (cc, or $CC)")
    flags = []
    for what in ("--cflags", "--ldflags"):
        out = subprocess.run([build.config, what, "--embed"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=TIMEOUT)
        if out.returncode != 0:
            raise Fail("`%s %s --embed` failed: %r" % (build.config, what,
                                                        out.stderr))
        flags += shlex.split(out.stdout.decode())
    lib = build.mapped or build.shared_lib
    flags += ["-Wl,-rpath," + os.path.dirname(lib), "-pthread"]
    binary = os.path.join(TMPDIR, "embed-%s" % interp.label)
    compile_c(EMBED_SRC, binary, flags)
    build.binary = binary
    return Embedded(interp, binary)


# ---------------------------------------------------------------- static ---

def t_static(build):
    if build.mapped:
        raise Skip("not static: it maps %s" % build.mapped)
    interp = build.interp
    outs, _ = test_attach.attach_and_compare(
        interp, "nested,deep,names,noframe", options=["-v"])
    line = outs[0].stderr.decode(errors="replace").split("\n")[0]
    if not line.endswith(" in %s" % interp.real):
        raise Fail("static %s: -v should name the executable %s as the "
                   "interpreter: %r" % (interp.path, interp.real, line))
    print("  %s is statically linked (no libpython mapped): %s" % (
        interp.path, line))


def t_static_with_libpython(build):
    """A static interpreter that loads a libpython as well (ctypes here;
    an extension linked with libpython does the same): two interpreters,
    refused like two libpythons."""
    if build.mapped:
        raise Skip("not static: it maps %s" % build.mapped)
    if not build.shared_lib:
        raise Skip("no shared libpython beside it to load")
    prog = ("import ctypes, os, sys\nctypes.CDLL(sys.argv[1])\n"
            "os.write(1, b'r')\nos.read(0, 1)\n")
    res = Resources()
    try:
        proc = res.popen([build.interp.path, "-c", prog, build.shared_lib],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        expect_byte(proc.stdout.fileno(), b"r", "the libpython to load")
        out = test_attach.run_attach([proc.pid])
        what = "%s with %s loaded" % (build.interp.path, build.shared_lib)
        test_attach.check_status(out, {6}, what)
        test_attach.check_error_line(out, what, [build.shared_lib])
        if build.interp.real.encode() not in out.stderr:
            raise Fail("%s: the message should name %s: %r" % (
                what, build.interp.real, out.stderr))
        test_attach.check_detached(proc.pid)
        proc.stdin.close()
        if proc.wait(timeout=TIMEOUT) != 0:
            raise Fail("%s exited with %d after pyfault-attach" % (
                build.interp.path, proc.returncode))
        print("  %s" % out.stderr.decode().strip())
    finally:
        res.release()


# -------------------------------------------------------------- embedded ---

def t_embedded_attach(build):
    emb = embedded(build)
    outs, _ = test_attach.attach_and_compare(
        emb, "nested,deep,names,noframe", options=["-v"])
    line = outs[0].stderr.decode(errors="replace").split("\n")[0]
    lib = build.mapped or build.shared_lib
    if not line.endswith(" in %s" % lib):
        raise Fail("embedded: -v should name %s as the interpreter: %r" % (
            lib, line))
    print("  %s" % line)


def t_embedded_attach_blocked(build):
    test_attach.attach_and_compare(embedded(build), "nested,noframe",
                                   main_blocked=True)


def t_embedded_watch(build, kind, args=()):
    test_watch.t_fatal(embedded(build), kind, args)


def t_embedded_timeout(build):
    test_watch.t_timeout(embedded(build), "once")


PER_BUILD = [
    ("static executable", t_static),
    ("static executable with a libpython loaded refused",
     t_static_with_libpython),
    ("embedded attach", t_embedded_attach),
    ("embedded attach, no GIL holder", t_embedded_attach_blocked),
    ("embedded watch crash segv",
     lambda b: t_embedded_watch(b, "segv")),
    ("embedded watch crash abrt --in-thread",
     lambda b: t_embedded_watch(b, "abrt", ["--in-thread"])),
    ("embedded watch --timeout", t_embedded_timeout),
]


# --------------------------------------------------------- two libpythons ---

def t_two_libpythons(builds):
    libs = []
    for build in builds:
        lib = build.mapped or build.shared_lib
        if lib and os.path.realpath(lib) not in map(os.path.realpath, libs):
            libs.append(lib)
    if len(libs) < 2:
        raise Skip("needs two different shared libpythons, found %s" % (
            ", ".join(libs) or "none"))
    if CC is None:
        raise Skip("no C compiler (cc, or $CC)")
    a, b = libs[0], libs[-1]
    binary = os.path.join(TMPDIR, "two_pythons")
    compile_c(TWO_SRC, binary, ["-ldl"])
    res = Resources()
    try:
        proc = res.popen([binary, a, b], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        expect_byte(proc.stdout.fileno(), b"r", "two_pythons to load both")
        out = test_attach.run_attach([proc.pid])
        what = "a process with %s and %s" % (a, b)
        test_attach.check_status(out, {6}, what)
        test_attach.check_error_line(out, what, ["two Python libraries"])
        for lib in (a, b):
            if lib.encode() not in out.stderr:
                raise Fail("%s: the message should name %s: %r" % (
                    what, lib, out.stderr))
        test_attach.check_detached(proc.pid)
        proc.stdin.close()
        if proc.wait(timeout=TIMEOUT) != 0:
            raise Fail("two_pythons exited with %d after pyfault-attach"
                       % proc.returncode)
        print("  %s" % out.stderr.decode().strip())
    finally:
        res.release()


# ------------------------------------------------------------------ main ----

def make_tests(suite):
    global TMPDIR, CC
    signal.pthread_sigmask(signal.SIG_BLOCK, {test_attach.READY_SIG})
    test_attach.ATTACH, test_watch.WATCH = suite.attach, suite.watch
    TMPDIR = test_attach.TMPDIR = test_watch.TMPDIR = suite.tmpdir
    test_watch.SCRATCH = os.path.join(TMPDIR, "cwd")
    os.mkdir(test_watch.SCRATCH)
    test_watch.SUBREAPER = test_watch.become_subreaper()
    test_watch.CORE_LIMIT = test_watch.core_limit()
    CC = shutil.which(os.environ.get("CC") or "cc")
    builds = [Build(i) for i in suite.full]
    print("C compiler: %s" % (CC or "none found"))
    for build in builds:
        print("  %s: %s; python-config %s" % (
            build.interp.label,
            "maps " + build.mapped if build.mapped else
            "static (no libpython mapped)" +
            (", shared library %s" % build.shared_lib
             if build.shared_lib else ""),
            build.config if os.path.exists(build.config) else "missing"))
    sys.stdout.flush()
    return pyinterps.per_interp(builds, PER_BUILD, lambda b: b.interp) + [
        ("two libpythons refused", lambda: t_two_libpythons(builds), None)]


def main():
    return pyinterps.suite_main(__doc__, "pyfault-embedded-", make_tests)


if __name__ == "__main__":
    sys.exit(main())
