#!/usr/bin/env python3
"""Functional tests of pyfault-core against every CPython on this machine.

    python3 tests/functional/test_core.py --core src/pyfault-core \\
        [--attach src/pyfault-attach] [--keep] [--only SUBSTRING]

The oracle is the real faulthandler of the very crash that wrote the core.
Each fatal-signal scenario of test_watch.py runs watch_targets.py under
`python -X faulthandler` (on 2.7, which has no faulthandler, the program
writes the backport's dump itself: --backport-oracle) with RLIMIT_CORE
unlimited, in an empty working directory, where the kernel writes its core
when core_pattern names a plain file (this suite never changes the
machine's pattern; a pattern that pipes cores to a program, or writes them
elsewhere, skips these tests and says so).  pyfault-core's text of that
core must equal faulthandler's stderr byte for byte, the contents of
3.14's C stack section aside (its presence counts), and with one more
exception: Linux keeps the names of threads out of core files, all but the
main thread's (NT_PRPSINFO), so on 3.14, whose faulthandler prints them,
the names of the other threads are taken out of the oracle.

A core from new pid and mount namespaces where the interpreter's file is
another one than ours at the same path: refused as it is (build-ids), read
with --sysroot (test_namespaces.py's container).

A crash without faulthandler, the case pyfault-core is for: its core gives
the text faulthandler printed in another run of the same program under
-X faulthandler, thread ids named by the program.

A core of a live process: gcore (gdb) of target_threads.py parked with
every thread asleep; pyfault-core's text must equal pyfault-attach's of the
same process and the target's own faulthandler dump (same name exception),
and its --locals text pyfault-attach --locals of the same process.
--native of that core: each thread's C functions, as far as gdb names
them too, must be gdb's `thread apply all bt` of the same core, frame for
frame.

Cores compressed as systemd-coredump stores them (zstd, xz, lz4) and cores
on standard input give the same text as the plain file.

Bad input: not an ELF file, an ELF file that is no core, a truncated core
(a warning naming the missing bytes, then the dump), a core of a program
that is not Python, a file whose build-id is not the core's (--sysroot
with a wrong file), a missing mapped file, usage errors, --format json
without json-c (refused before the core is read): each one line on stderr
and its documented exit status.

Stdlib only; runs on Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import json_check
import pyinterps
import test_namespaces
from pyinterps import TIMEOUT, Fail, Skip, Resources

HERE = os.path.dirname(os.path.abspath(__file__))
WATCH_TARGET = os.path.join(HERE, "watch_targets.py")
THREADS_TARGET = os.path.join(HERE, "target_threads.py")
PREFIX = b"pyfault-core: "
ABOUT_TO_CRASH = b"target: about to crash\n"
FATAL = {"segv": signal.SIGSEGV, "fpe": signal.SIGFPE, "ill": signal.SIGILL,
         "abrt": signal.SIGABRT, "bus": signal.SIGBUS}
C_STACK = re.compile(rb"\nCurrent thread's C stack trace \(most recent call "
                     rb"first\):\n(?:  .*\n)*")
THREAD_LINE = re.compile(rb"^((?:Current thread|Thread) (0x[0-9a-f]{16}))"
                         rb"( \[[^\]\n]*\])?", re.M)
IDENT_LINE = re.compile(rb"^thread (\S+) (0x[0-9a-f]{16})$", re.M)
VERSION_WARNING = re.compile(rb"^pyfault-core: warning: process \d+ runs "
                             rb"Python 3\.\d+, newer than any this pyfault "
                             rb"knows [^\n]*\n", re.M)

CORE = None
ATTACH = None
TMPDIR = None
# Why cores cannot be made here, or None.
NO_CORES = None
UNSHARE_PROBLEM = None
CHILD_ENV = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONFAULTHANDLER", "PYTHONDEVMODE")}


def core_pattern_problem():
    try:
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
    except OSError as exc:
        return "cannot read /proc/sys/kernel/core_pattern: %s" % exc
    if pattern.startswith("|"):
        return ("the kernel pipes cores to %s (core_pattern), not to a file "
                "this suite can read; it never changes the machine's "
                "pattern" % pattern[1:].split()[0])
    if "/" in pattern:
        return ("core_pattern %r writes cores outside the working "
                "directory" % pattern)
    return None


def unlimited_core():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE,
                       (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def quit_dumps_core():
    """A core on SIGQUIT, which a driver started in the background by a
    shell without job control has ignored, for its programs to inherit."""
    unlimited_core()
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def no_core_but_allowed():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.RLIM_INFINITY))


def new_dir(stem):
    path = tempfile.mkdtemp(prefix=stem + "-", dir=TMPDIR)
    return path


def the_core(cwd, what):
    """The one file the kernel wrote in cwd."""
    names = os.listdir(cwd)
    if len(names) != 1:
        raise Fail("%s: expected one core file in the working directory, "
                   "found %r" % (what, names))
    return os.path.join(cwd, names[0])


def run_core(args, timeout=TIMEOUT, env=None):
    cmd = [CORE] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout,
                              env=env or CHILD_ENV)
    except subprocess.TimeoutExpired:
        raise Fail("`%s` hung (no exit within %d s)" % (" ".join(cmd),
                                                        TIMEOUT))


def describe(proc):
    return "status %d, stdout %r, stderr %r" % (
        proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:])


def check_ok(proc, what):
    if proc.returncode != 0:
        raise Fail("%s: %s" % (what, describe(proc)))


def check_error(proc, status, what, must_contain=()):
    err = proc.stderr
    if proc.returncode != status:
        raise Fail("%s: expected status %d; %s" % (what, status,
                                                   describe(proc)))
    if (not err.startswith(PREFIX) or err.count(b"\n") != 1
            or not err.endswith(b"\n")):
        raise Fail("%s: stderr must be one line starting with %r, got %r"
                   % (what, PREFIX.decode(), err))
    for word in must_contain:
        if word.encode() not in err:
            raise Fail("%s: the message does not name %r: %r" % (
                what, word, err))


def without_other_names(text, main_ident):
    """text with the " [name]" of every thread but the main one taken out:
    a core has only the main thread's name (see the docstring)."""
    def strip(m):
        if m.group(2) == main_ident:
            return m.group(0)
        return m.group(1)
    return THREAD_LINE.sub(strip, text)


def normalise(text, interp, main_ident):
    text = VERSION_WARNING.sub(b"", text)
    text = C_STACK.sub(b"\n<the current thread's C stack>\n", text)
    if interp.version >= (3, 14) and main_ident is not None:
        text = without_other_names(text, main_ident)
    return text


def main_ident_of(stdout):
    for name, ident in IDENT_LINE.findall(stdout):
        if name == b"main":
            return ident
    return None


def check_same(expected, actual, what):
    pyinterps.check_same(expected, actual, what, "pyfault-core (actual)",
                         "faulthandler")


# ------------------------------------------------------------ fatal cores ----

def crash_cmd(interp, args, current_only):
    argv = [WATCH_TARGET, "crash"] + list(args)
    if current_only:
        return [interp.path] + argv + ["--fh-current-only"]
    if interp.version[0] == 2:
        return [interp.path] + argv + ["--backport-oracle"]
    return [interp.path, "-X", "faulthandler"] + argv


def crash_and_core(res, interp, kind, args, current_only, what):
    """Runs the crash; (program's stdout, faulthandler's dump, core)."""
    if NO_CORES:
        raise Skip(NO_CORES)
    cwd = new_dir("crash")
    env = dict(CHILD_ENV, PYFAULT_KEEP_CORE="1")
    proc = res.popen(crash_cmd(interp, [kind] + list(args), current_only),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     cwd=cwd, env=env, preexec_fn=unlimited_core)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Fail("%s: the program did not end within %d s" % (what,
                                                                TIMEOUT))
    if proc.returncode != -FATAL[kind]:
        raise Fail("%s: expected death by signal %d, got status %d; "
                   "stderr %r" % (what, FATAL[kind], proc.returncode,
                                  err[-2000:]))
    if not err.startswith(ABOUT_TO_CRASH):
        raise Fail("%s: unexpected output of the program: %r" % (
            what, err[-2000:]))
    return out, err[len(ABOUT_TO_CRASH):], the_core(cwd, what)


def t_fatal(interp, kind, args=(), current_only=False):
    what = " ".join(["crash", kind] + list(args))
    res = Resources()
    try:
        out, oracle, core = crash_and_core(res, interp, kind, args,
                                           current_only, what)
        options = ["--current-thread-only"] if current_only else []
        got = run_core(options + [core])
        check_ok(got, what)
        os.unlink(core)
        main_ident = main_ident_of(out)
        check_same(normalise(oracle, interp, main_ident),
                   normalise(got.stdout, interp, main_ident), what)
        if interp.version >= (3, 14) and b"C stack" not in got.stdout:
            raise Fail("%s: no C stack section for 3.14" % what)
    finally:
        res.release()


THREAD_ID = re.compile(rb"0x[0-9a-f]{16}")


def named_threads(text, stdout):
    """text with each thread id replaced by the name its program gave the
    thread (watch_targets.py prints them): two runs compare."""
    names = {ident: b"<thread " + name + b">"
             for name, ident in IDENT_LINE.findall(stdout)}
    return THREAD_ID.sub(lambda m: names.get(m.group(0), b"<unnamed>"),
                         text)


def t_fatal_bare(interp, kind, args=()):
    """The crash of a program that never enabled faulthandler (the case
    pyfault-core is for): its core gives the text faulthandler printed in
    another run of the same program under -X faulthandler, thread ids
    aside (each run's are named by the program)."""
    what = " ".join(["crash", kind] + list(args) + ["without faulthandler"])
    res = Resources()
    try:
        out, oracle, _ = crash_and_core(res, interp, kind, args, False, what)
        cwd = new_dir("bare")
        bare = res.popen([interp.path, WATCH_TARGET, "crash", kind] +
                         list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=cwd,
                         preexec_fn=unlimited_core,
                         env=dict(CHILD_ENV, PYFAULT_KEEP_CORE="1"))
        bare_out, _ = bare.communicate(timeout=TIMEOUT)
        if bare.returncode != -FATAL[kind]:
            raise Fail("%s: status %d" % (what, bare.returncode))
        got = run_core([the_core(cwd, what)])
        check_ok(got, what)
        want = named_threads(normalise(oracle, interp, main_ident_of(out)),
                             out)
        have = named_threads(normalise(got.stdout, interp,
                                       main_ident_of(bare_out)), bare_out)
        check_same(want, have, what)
    finally:
        res.release()


def t_fatal_json(interp):
    """--format json of a SIGSEGV core: the reason names the signal and its
    code (faulthandler raises the signal again: SI_TKILL); of the same
    crash without faulthandler, the kernel's SEGV_MAPERR and the fault
    address, 0x0 (ctypes.string_at(0)).  -o appends: two runs leave the
    text twice."""
    what = "crash segv, --format json"
    res = Resources()
    try:
        _, _, core = crash_and_core(res, interp, "segv", [], False, what)
        got = run_core(["--format", "json", core])
        check_ok(got, what)
        doc = json.loads(got.stdout)
        json_check.validate(doc, "pyfault-core")
        reason = doc["reason"]
        sig = reason["signal"]
        if reason["kind"] != "fatal_signal" or sig["name"] != "SIGSEGV" \
                or sig["code_name"] is None:
            raise Fail("%s: reason %r" % (what, reason))
        if doc["tool"] != "pyfault-core" or not doc["threads"]:
            raise Fail("%s: document %r" % (what, doc))
        if not any(t["current"] for t in doc["threads"]):
            raise Fail("%s: no current thread in %r" % (what, doc["threads"]))
        text = run_core([core])
        check_ok(text, "the text")
        out = os.path.join(os.path.dirname(core), "dumps.txt")
        for _ in range(2):
            check_ok(run_core(["-o", out, core]), "-o")
        with open(out, "rb") as f:
            if f.read() != text.stdout * 2:
                raise Fail("-o twice: the file does not hold the text "
                           "twice")
        cwd = new_dir("bare")
        bare = res.popen([interp.path, WATCH_TARGET, "crash", "segv"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         cwd=cwd, preexec_fn=unlimited_core,
                         env=dict(CHILD_ENV, PYFAULT_KEEP_CORE="1"))
        bare.wait(timeout=TIMEOUT)
        got = run_core(["--format", "json", the_core(cwd, what)])
        check_ok(got, what + ", no faulthandler")
        sig = json.loads(got.stdout)["reason"]["signal"]
        if sig["code_name"] != "SEGV_MAPERR" or sig["address"] != "0x0":
            raise Fail("%s, no faulthandler: signal %r" % (what, sig))
    finally:
        res.release()


# ---------------------------------------------------------------- gcore ----

def gcore(pid, what):
    if shutil.which("gcore") is None:
        raise Skip("gcore (Debian package gdb) is not installed")
    prefix = os.path.join(new_dir("gcore"), "core")
    try:
        proc = subprocess.run(["gcore", "-o", prefix, str(pid)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=TIMEOUT * 4)
    except subprocess.TimeoutExpired:
        raise Fail("%s: gcore hung" % what)
    path = "%s.%d" % (prefix, pid)
    if proc.returncode != 0 or not os.path.exists(path):
        raise Fail("%s: gcore failed: %r" % (what, proc.stderr[-2000:]))
    return path


class ParkedTarget:
    """target_threads.py with every thread asleep (test_attach.py's
    --main-blocked scenario): nothing changes between the dumps."""

    def __init__(self, res, interp):
        import test_attach
        test_attach.TMPDIR = TMPDIR
        self.target = test_attach.Target(res, interp, "nested",
                                         main_blocked=True)
        self.pid = self.target.pid

    def oracle(self):
        import test_attach
        return test_attach.no_current(self.target.finish())


def t_gcore(interp):
    if ATTACH is None:
        raise Skip("no pyfault-attach given (--attach or $PYFAULT_ATTACH)")
    what = "gcore of a parked target"
    res = Resources()
    try:
        target = ParkedTarget(res, interp)
        attached = subprocess.run([ATTACH, str(target.pid)],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=TIMEOUT)
        attached_locals = subprocess.run(
            [ATTACH, "--locals", str(target.pid)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=TIMEOUT)
        core = gcore(target.pid, what)
        oracle = target.oracle()
        check_ok(attached, what + ": pyfault-attach")
        got = run_core([core])
        check_ok(got, what)
        # The main thread is the first the target started.
        main = THREAD_LINE.findall(attached.stdout)[-1][1]
        check_same(normalise(attached.stdout, interp, main),
                   normalise(got.stdout, interp, main),
                   what + " (pyfault-attach's text)")
        check_same(normalise(oracle, interp, main),
                   normalise(got.stdout, interp, main),
                   what + " (the target's faulthandler)")
        # --locals reads the same memory from the core as from the
        # process.
        check_ok(attached_locals, what + ": pyfault-attach --locals")
        got_locals = run_core(["--locals", core])
        check_ok(got_locals, what + " --locals")
        if b" = " not in got_locals.stdout:
            raise Fail("%s --locals: no local shown:\n%s" % (
                what, got_locals.stdout.decode(errors="replace")))
        check_same(normalise(attached_locals.stdout, interp, main),
                   normalise(got_locals.stdout, interp, main),
                   what + " --locals (pyfault-attach's text)")
        t_native_against_gdb(interp, core, what)
        doc = run_core(["--format", "json", core])
        check_ok(doc, what + " --format json")
        doc = json.loads(doc.stdout)
        json_check.validate(doc, "pyfault-core")
        if doc["reason"] != {"kind": "core", "signal": None,
                             "timeout_seconds": None}:
            raise Fail("%s: JSON reason %r" % (what, doc["reason"]))
        os.unlink(core)
    finally:
        res.release()


# gdb prints the address of every frame but inlined ones (and frame #0
# where its pc starts a line): those are the frames an unwinder sees.
GDB_PC = re.compile(r"^#\d+\s+0x([0-9a-f]+) in ", re.M)
GDB_THREAD = re.compile(r"^Thread \d+ \(.*?LWP (\d+)\)", re.M)
STATUS_LINE = re.compile(rb"^  Thread (0x[0-9a-f]{16}): tid (\d+) ", re.M)
NATIVE_SECTION = re.compile(rb"^C stack trace of thread (0x[0-9a-f]{16}) "
                            rb"\(most recent call first\):\n((?:  .*\n)*)",
                            re.M)
NATIVE_PC = re.compile(rb"\[0x([0-9a-f]+)\]$", re.M)


def is_subsequence(short, long):
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def gdb_stacks(core, exe):
    """{LWP: [pc of each frame]} from gdb's backtrace of every thread."""
    try:
        proc = subprocess.run(["gdb", "-batch", "-nx",
                               "-ex", "set backtrace past-main on",
                               "-ex", "thread apply all bt", exe, core],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=TIMEOUT * 4, universal_newlines=True)
    except subprocess.TimeoutExpired:
        raise Fail("gdb -batch hung on %s" % core)
    stacks = {}
    parts = GDB_THREAD.split(proc.stdout)
    for lwp, body in zip(parts[1::2], parts[2::2]):
        stacks[int(lwp)] = [int(pc, 16) for pc in GDB_PC.findall(body)]
    return stacks


def t_native_against_gdb(interp, core, what):
    """--native --status: each thread's C frames are frames gdb unwinds in
    the same core, in the same order, down to the same outermost one
    (gdb adds a frame for each inlined call, at an address of its own,
    and may place frame #0 elsewhere: the innermost is not compared)."""
    if shutil.which("gdb") is None:
        raise Skip("gdb is not installed")
    got = run_core(["--native", "--status", core])
    check_ok(got, what + " --native")
    tids = {ident: int(tid) for ident, tid in STATUS_LINE.findall(got.stdout)}
    gdb = gdb_stacks(core, os.path.realpath(interp.path))
    compared = 0
    for ident, body in NATIVE_SECTION.findall(got.stdout):
        mine = [int(pc, 16) for pc in NATIVE_PC.findall(body)]
        theirs = gdb.get(tids.get(ident))
        if theirs is None:
            raise Fail("%s: gdb shows no thread %s (tid %s)" % (
                what, ident.decode(), tids.get(ident)))
        if len(mine) < 3 or not is_subsequence(mine[1:], theirs) or \
                mine[-1] != theirs[-1]:
            raise Fail("%s: thread %s: pyfault-core's C frames at %s, "
                       "gdb's at %s" % (what, ident.decode(),
                                        [hex(p) for p in mine],
                                        [hex(p) for p in theirs]))
        compared += 1
    if compared != len(gdb):
        raise Fail("%s: %d C stacks compared, gdb shows %d threads:\n%s" % (
            what, compared, len(gdb), got.stdout.decode(errors="replace")))


# -------------------------------------------------------------- container ---

def t_container(interp):
    """A crash in new pid and mount namespaces (test_namespaces.py's
    container), where the interpreter's ELF file ("the object") is
    bind-mounted at a path that holds true(1) in ours: the core names that
    path.  Read here as it is, the file there is not the one the process
    mapped: refused (16), naming both build-ids and --sysroot.  With
    --sysroot DIR holding the object at that path: faulthandler's text."""
    if NO_CORES:
        raise Skip(NO_CORES)
    if os.geteuid() != 0:
        raise Skip("needs root (namespaces, mounts)")
    if UNSHARE_PROBLEM:
        raise Skip(UNSHARE_PROBLEM)
    build = test_namespaces.Build(interp)
    real = build.mapped or interp.real
    view = new_dir("view")
    seen = os.path.join(view, os.path.basename(real))
    test_namespaces.decoy(seen)
    # unshare dies of its child's signal again, which would write a core
    # of its own over Python's: only Python's limit is raised.
    script = ('mount --bind "$1" "$2" && shift 2 && ulimit -S -c unlimited '
              '&& exec "$@"')
    python = [interp.path] if build.mapped else [seen]
    env = test_namespaces.python_env(build, view if build.mapped else None)
    env = dict(env, PYFAULT_KEEP_CORE="1")
    env.pop("PYTHONFAULTHANDLER", None)
    cwd = new_dir("crash")
    what = "crash segv in namespaces"
    res = Resources()
    try:
        proc = res.popen([shutil.which("unshare"), "--pid", "--mount",
                          "--fork", "--mount-proc", "--kill-child", "sh",
                          "-c", script, "sh", real, seen] + python +
                         crash_cmd(interp, ["segv"], False)[1:],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=cwd, env=env, preexec_fn=no_core_but_allowed)
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Fail("%s: did not end within %d s" % (what, TIMEOUT))
        if not err.startswith(ABOUT_TO_CRASH):
            raise Fail("%s: unexpected output %r" % (what, err[-2000:]))
        oracle = err[len(ABOUT_TO_CRASH):]
        core = the_core(cwd, what)
        check_error(run_core([core]), 16, what + ", without --sysroot",
                    ["build-id", "--sysroot", seen])
        root = new_dir("sysroot")
        os.makedirs(os.path.dirname(root + seen))
        shutil.copyfile(real, root + seen)
        got = run_core(["--sysroot", root, core])
        check_ok(got, what + ", --sysroot")
        main = main_ident_of(out)
        check_same(normalise(oracle, interp, main),
                   normalise(got.stdout, interp, main), what)
    finally:
        res.release()


# ------------------------------------------------------------ bad input ----

def t_not_a_core():
    path = os.path.join(new_dir("bad"), "text")
    with open(path, "w") as f:
        f.write("not a core\n")
    check_error(run_core([path]), 15, "a text file", ["not an ELF core"])
    check_error(run_core([sys.executable]), 15, "an executable",
                ["not an ELF core"])
    check_error(run_core([path + ".absent"]), 2, "a missing file",
                ["No such file"])


def t_json_without_json_c():
    """--format json with json-c unloadable (an empty file first in the
    search path under its soname): status 1 and one line naming the
    package, before the core is read (a text file, not a core, is not
    called one)."""
    env = pyinterps.without_library(TMPDIR, "libjson-c.so.5", CHILD_ENV)
    text = os.path.join(new_dir("json-c"), "text")
    with open(text, "w") as f:
        f.write("not a core\n")
    out = run_core(["--format", "json", text], env=env)
    check_error(out, 1, "--format json, json-c unloadable", ["libjson-c5"])
    if b"not an ELF core" in out.stderr or out.stdout:
        raise Fail("--format json, json-c unloadable: the core was read: "
                   "%s" % describe(out))


def python_core(res, interp):
    _, _, core = crash_and_core(res, interp, "segv", [], False,
                                "crash segv")
    return core


def t_truncated(interp):
    res = Resources()
    try:
        core = python_core(res, interp)
        size = os.path.getsize(core)
        with open(core, "r+b") as f:
            f.truncate(size - 4096 * 16)
        got = run_core([core])
        if b"is truncated: 65536 bytes" not in got.stderr:
            raise Fail("truncated core: no warning naming the missing "
                       "bytes; %s" % describe(got))
        # Only the end of the last segments is gone: the dump is whole.
        check_ok(got, "truncated core")
        with open(core, "r+b") as f:
            f.truncate(2000)
        check_error(run_core([core]), 15, "a core cut inside its notes",
                    ["truncated"])
    finally:
        res.release()


COMPRESSORS = [("zstd", ["zstd", "-q", "-c"]), ("xz", ["xz", "-0", "-c"]),
               ("lz4", ["lz4", "-q", "-c"])]


def t_compressed_and_stdin(interp):
    """The core compressed as systemd-coredump stores it (zstd, xz, lz4),
    as a file and on standard input ("-"), and plain on standard input:
    the same text as from the file; a compressed core cut short: a warning
    and what its first part holds."""
    res = Resources()
    try:
        core = python_core(res, interp)
        plain = run_core([core])
        check_ok(plain, "plain core")
        with open(core, "rb") as f:
            piped = subprocess.run([CORE, "-"], stdin=f,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=TIMEOUT)
        check_ok(piped, "plain core on standard input")
        check_same(plain.stdout, piped.stdout, "plain core on stdin")
        for name, cmd in COMPRESSORS:
            if shutil.which(cmd[0]) is None:
                raise Skip("%s is not installed (Debian package %s)" % (
                    cmd[0], "xz-utils" if name == "xz" else cmd[0]))
            packed = core + "." + name
            with open(core, "rb") as f, open(packed, "wb") as out:
                subprocess.run(cmd, stdin=f, stdout=out, check=True,
                               timeout=TIMEOUT * 4)
            got = run_core([packed])
            check_ok(got, name + " core")
            check_same(plain.stdout, got.stdout, name + " core")
            with open(packed, "rb") as f:
                got = subprocess.run([CORE, "-"], stdin=f,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, timeout=TIMEOUT)
            check_ok(got, name + " core on standard input")
            check_same(plain.stdout, got.stdout, name + " core on stdin")
            with open(packed, "r+b") as f:
                f.truncate(os.path.getsize(packed) // 2)
            got = run_core([packed])
            if (b"(%s): " % name.encode()) not in got.stderr or \
                    b"ends early" not in got.stderr and \
                    b"corrupt" not in got.stderr:
                raise Fail("%s core cut short: no warning; %s" % (
                    name, describe(got)))
            os.unlink(packed)
    finally:
        res.release()


def t_not_python():
    if NO_CORES:
        raise Skip(NO_CORES)
    cwd = new_dir("sleep")
    res = Resources()
    try:
        proc = res.popen(["sleep", "60"], cwd=cwd,
                         preexec_fn=quit_dumps_core)
        os.kill(proc.pid, signal.SIGQUIT)
        proc.wait(timeout=TIMEOUT)
        check_error(run_core([the_core(cwd, "sleep")]), 5,
                    "a core of sleep", ["not a Python process"])
    finally:
        res.release()


def t_wrong_file(interp):
    """--sysroot with another file at the executable's path: refused,
    both build-ids named; without the file: a missing mapped file.  The
    EXECUTABLE operand: another program is refused; the program itself
    serves where the sysroot lacks it (a static interpreter is dumped
    then, a shared libpython is still missing)."""
    res = Resources()
    try:
        core = python_core(res, interp)
        root = new_dir("sysroot")
        lib = os.path.realpath(interp.path)
        fake = os.path.join(root, lib.lstrip("/"))
        os.makedirs(os.path.dirname(fake))
        shutil.copy(shutil.which("sleep"), fake)
        got = run_core(["--sysroot", root, core])
        check_error(got, 16, "a file of another build", ["build-id",
                                                         "--sysroot"])
        os.unlink(fake)
        check_error(run_core(["--sysroot", root, core]), 14,
                    "a missing mapped file", ["--sysroot"])
        true = os.path.realpath(shutil.which("true"))
        check_error(run_core([core, true]), 16, "EXECUTABLE of another "
                    "build", ["build-id", true])
        plain = run_core([core])
        check_ok(plain, "the core as it is")
        got = run_core(["--sysroot", root, core, lib])
        if test_namespaces.Build(interp).mapped is None:
            check_ok(got, "EXECUTABLE, nothing under --sysroot")
            check_same(plain.stdout, got.stdout, "EXECUTABLE")
        else:
            check_error(got, 14, "EXECUTABLE, no libpython under "
                        "--sysroot", ["libpython"])
    finally:
        res.release()


def check_usage(proc, what, must_contain):
    """getopt's two lines: the error, then where --help is."""
    if (proc.returncode != 2 or not proc.stderr.startswith(PREFIX)
            or must_contain.encode() not in proc.stderr.split(b"\n")[0]
            or b"--help" not in proc.stderr):
        raise Fail("%s: expected status 2 and %r; %s" % (
            what, must_contain, describe(proc)))


def t_usage():
    check_usage(run_core([]), "no operand", "missing CORE")
    check_usage(run_core(["a", "b", "c"]), "three operands",
                "too many operands")
    check_usage(run_core(["--bogus", "x"]), "an unknown option", "bogus")
    helped = run_core(["--help"])
    if helped.returncode != 0 or b"Usage: pyfault-core" not in helped.stdout:
        raise Fail("--help: %s" % describe(helped))


# ---------------------------------------------------------------- main ----

PER_INTERP = []
for _kind in ("segv", "fpe", "ill", "abrt", "bus"):
    PER_INTERP += [
        ("sig%s" % _kind, lambda i, k=_kind: t_fatal(i, k)),
        ("sig%s-in-thread" % _kind,
         lambda i, k=_kind: t_fatal(i, k, ["--in-thread"])),
        ("sig%s-busy-thread" % _kind,
         lambda i, k=_kind: t_fatal(i, k, ["--busy"])),
    ]
PER_INTERP += [
    ("sigsegv-in-thread-busy-thread",
     lambda i: t_fatal(i, "segv", ["--in-thread", "--busy"])),
    ("sigsegv-extension-modules",
     lambda i: t_fatal(i, "segv", ["--extensions"])),
    ("sigabrt-extension-modules-in-thread",
     lambda i: t_fatal(i, "abrt", ["--extensions", "--in-thread"])),
    ("sigsegv-105-threads",
     lambda i: t_fatal(i, "segv", ["--threads", "105"])),
    ("sigsegv-105-threads-in-thread",
     lambda i: t_fatal(i, "segv", ["--threads", "105", "--in-thread"])),
    ("sigsegv-no-line-numbers", lambda i: t_fatal(i, "segv", ["--no-lines"])),
    ("sigsegv-current-thread-only",
     lambda i: t_fatal(i, "segv", current_only=True)),
    ("sigsegv-current-thread-only-in-thread",
     lambda i: t_fatal(i, "segv", ["--in-thread"], current_only=True)),
    ("sigsegv-json", t_fatal_json),
    ("sigsegv-without-faulthandler", lambda i: t_fatal_bare(i, "segv")),
    ("sigabrt-in-thread-without-faulthandler",
     lambda i: t_fatal_bare(i, "abrt", ["--in-thread"])),
    ("gcore-parked-threads", t_gcore),
    ("truncated-core", t_truncated),
    ("compressed-and-stdin", t_compressed_and_stdin),
    ("container-sysroot", t_container),
    ("build-id-mismatch-and-missing-file", t_wrong_file),
]

# What the oracle of a scenario cannot give on some versions.
def skip_reason(name, interp):
    if interp.version[0] == 2:
        if "105-threads" in name:
            return ("backport_format.py renders no dump past the backport's "
                    "100 threads")
        if "current-thread-only" in name:
            return "the oracle is faulthandler.enable, which 2.7 lacks"
    if "no-line-numbers" in name and interp.version < (3, 11):
        return "the target strips a 3.11+ location table"
    return None


def for_interp(name, func, interp):
    reason = skip_reason(name, interp)
    if reason:
        def skip():
            raise Skip("Python %s: %s" % (interp.vstr, reason))
        return skip
    return lambda: func(interp)


def make_tests(suite):
    global CORE, ATTACH, TMPDIR, NO_CORES, UNSHARE_PROBLEM
    CORE, ATTACH, TMPDIR = suite.core, suite.attach, suite.tmpdir
    CHILD_ENV["XDG_CACHE_HOME"] = os.path.join(TMPDIR, "cache")
    NO_CORES = core_pattern_problem()
    test_namespaces.TOOLS["unshare"] = shutil.which("unshare")
    if os.geteuid() == 0:
        UNSHARE_PROBLEM = ("unshare (util-linux) not found"
                           if test_namespaces.TOOLS["unshare"] is None
                           else test_namespaces.probe_unshare())
    print("cores: %s" % ("written by the kernel in the working directory"
                         if NO_CORES is None else "NONE: " + NO_CORES))
    print("3.14+: the names of threads other than the main one are not in "
          "a core file; they are taken out of the oracle")
    tests = []
    for interp in suite.full:
        for name, func in PER_INTERP:
            tests.append(("%s %s" % (interp.label, name),
                          for_interp(name, func, interp), interp))
    return tests + [
        ("not a core (15), missing file (2)", t_not_a_core, None),
        ("core of a program that is not Python (5)", t_not_python, None),
        ("usage errors (2)", t_usage, None),
        ("--format json without json-c (1)", t_json_without_json_c, None),
    ]


def main():
    return pyinterps.suite_main(__doc__, "pyfault-core-functional-",
                                make_tests, commands=("core",),
                                optional=("attach",))


if __name__ == "__main__":
    sys.exit(main())
