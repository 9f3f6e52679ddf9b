"""Interpreters and bookkeeping shared by the functional test drivers.

The suites (suite_main) run against every CPython found on the
machine (Debian's /usr/bin/python3*, pyenv's versions, and every interpreter
listed in $PYFAULT_TEST_PYTHONS, colon-separated), print the table of
interpreters at the start and at the end, release every process and
descriptor of a test in a finally clause (Resources), and end with the line
"N passed, N failed[, N skipped]".  Stdlib only; Python 3.8+.
"""
import argparse
import difflib
import glob
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback

TIMEOUT = 20.0          # seconds for any single step
SUPPORTED = [(2, 7)] + [(3, minor) for minor in range(6, 15)]
# Older than anything faulthandler (or its 2.7 backport) exists for.
UNSUPPORTED = [(2, 6), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5)]
NEWEST_KNOWN = SUPPORTED[-1]
# Interpreters to test besides the ones found on the machine: builds kept
# outside any package manager (a 3.14, a free-threaded 3.13t).
EXTRA_ENV = "PYFAULT_TEST_PYTHONS"


class Fail(Exception):
    pass


class Skip(Exception):
    pass


# ------------------------------------------------------------ interpreters --

class Interp:
    def __init__(self, path, origin):
        self.path = path
        self.aliases = []
        self.origin = origin
        self.real = os.path.realpath(path)
        self.version = None     # (major, minor, micro)
        self.debug = False
        self.free_threaded = False
        self.impl = "?"
        self.mode = "skip"      # "full", "unsupported" or "skip"
        self.reason = ""
        self.required = False   # listed in $PYFAULT_TEST_PYTHONS
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    @property
    def vstr(self):
        return ".".join(map(str, self.version)) if self.version else "?"

    @property
    def label(self):
        return "py%s%s%s" % (self.vstr, "t" if self.free_threaded else "",
                             "d" if self.debug else "")

    @property
    def newer_than_known(self):
        """pyfault reads it with a warning on stderr."""
        return self.version[:2] > NEWEST_KNOWN


PROBE = ("import sys, platform, sysconfig; "
         "sys.stdout.write('%d %d %d %d %s %d\\n' % "
         "(sys.version_info[0], sys.version_info[1], sys.version_info[2], "
         "hasattr(sys, 'gettotalrefcount'), platform.python_implementation(), "
         "bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))")


def pyenv_root():
    if shutil.which("pyenv"):
        try:
            out = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=TIMEOUT,
                                 check=True).stdout.decode().strip()
            if out:
                return out, "pyenv root"
        except (subprocess.SubprocessError, OSError):
            pass
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"], "$PYENV_ROOT"
    home = os.path.expanduser("~/.pyenv")
    if os.path.isdir(os.path.join(home, "versions")):
        return home, "~/.pyenv"
    return None, None


def discover():
    found = []      # Interp, in discovery order
    by_real = {}
    notes = []      # (path, reason) for entries that are not interpreters

    def add(path, origin, required=False):
        if not os.path.exists(path):
            if required:
                interp = Interp(path, origin)
                interp.reason = "listed in $%s but does not exist" % EXTRA_ENV
                interp.required = True
                found.append(interp)
            else:
                notes.append((path, "does not exist"))
            return
        real = os.path.realpath(path)
        if real in by_real:
            by_real[real].aliases.append(path)
            by_real[real].required |= required
            return
        interp = Interp(path, origin)
        interp.required = required
        by_real[real] = interp
        found.append(interp)

    add("/usr/bin/python3", "Debian python3")
    for path in sorted(glob.glob("/usr/bin/python3.[0-9]*")):
        base = os.path.basename(path)
        if base.endswith("-config"):
            continue            # shell scripts, not interpreters
        if re.match(r"^python3\.\d+(d|-dbg)?$", base):
            add(path, "/usr/bin")
        else:
            notes.append((path, "not an interpreter name"))
    root, how = pyenv_root()
    if root:
        vdir = os.path.join(root, "versions")
        for name in sorted(os.listdir(vdir)) if os.path.isdir(vdir) else []:
            path = os.path.join(vdir, name, "bin", "python")
            if os.path.exists(path):
                add(path, "pyenv (%s)" % how)
            else:
                notes.append((os.path.join(vdir, name), "no bin/python"))
    for path in os.environ.get(EXTRA_ENV, "").split(":"):
        if path:
            add(path, "$%s" % EXTRA_ENV, required=True)

    for interp in found:
        if interp.reason:
            continue
        try:
            out = subprocess.run([interp.path, "-c", PROBE],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, timeout=TIMEOUT)
        except (subprocess.SubprocessError, OSError) as exc:
            interp.reason = "cannot run it: %s" % exc
            continue
        fields = out.stdout.decode(errors="replace").split()
        if out.returncode != 0 or len(fields) != 6:
            interp.reason = "version probe failed (status %d)" % out.returncode
            continue
        interp.version = tuple(int(x) for x in fields[:3])
        interp.debug = fields[3] == "1"
        interp.impl = fields[4]
        interp.free_threaded = fields[5] == "1"
        mm = interp.version[:2]
        if interp.impl != "CPython":
            interp.reason = "not CPython (%s)" % interp.impl
        elif mm in SUPPORTED or (mm > NEWEST_KNOWN and mm[0] == 3):
            interp.mode = "full"
        elif mm in UNSUPPORTED:
            interp.mode = "unsupported"
        else:
            interp.reason = ("version %d.%d is neither supported (2.7, "
                             "3.6+) nor a known unsupported one "
                             "(2.6, 3.0-3.5)" % mm)
    found.sort(key=lambda i: (i.version or (99,), i.debug, i.path))
    return found, notes


def print_table(interps, notes, title, final=False):
    print("== %s ==" % title)
    rows = [("INTERPRETER", "VERSION", "STATUS", "DETAIL")]
    for i in interps:
        names = i.path
        if i.aliases:
            names += " (= %s)" % ", ".join(i.aliases)
        if i.real != i.path:
            names += " -> %s" % i.real
        version = i.vstr + (" free-threaded" if i.free_threaded else "") + (
            " debug" if i.debug else "")
        if i.mode == "skip":
            status, detail = "SKIPPED", i.reason
        else:
            status = "RAN"
            detail = ("full suite" if i.mode == "full"
                      else "unsupported-version check only")
            if i.mode == "full" and i.newer_than_known:
                detail += " (newer than %d.%d: read with a warning)" % (
                    NEWEST_KNOWN)
            if final:
                detail += ": %d passed, %d failed, %d skipped" % (
                    i.passed, i.failed, i.skipped)
        rows.append((names, version, status, detail))
    width = [max(len(r[k]) for r in rows) for k in range(3)]
    for r in rows:
        print("  %-*s  %-*s  %-*s  %s" % (width[0], r[0], width[1], r[1],
                                          width[2], r[2], r[3]))
    for path, reason in notes:
        print("  (ignored %s: %s)" % (path, reason))
    sys.stdout.flush()


# -------------------------------------------------------------- resources --

class Resources:
    """Processes and descriptors of one test, all released in finally."""

    def __init__(self):
        self.procs = []
        self.fds = []

    def popen(self, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(cmd, **kw)
        self.procs.append(proc)
        return proc

    def pipe(self):
        r, w = os.pipe()
        self.fds += [r, w]
        return r, w

    def close(self, fd):
        if fd in self.fds:
            self.fds.remove(fd)
            os.close(fd)

    def release(self):
        # Every process is killed before any is waited for: a tracer
        # holding another would keep it from ending.
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                print("WARNING: pid %d survived SIGKILL" % proc.pid)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.procs, self.fds = [], []


# ----------------------------------------------------------------- helpers --

class SharedCopies:
    """Copies of files that a test runs as another user, who may not enter
    the checkout (a clone under /root, mode 0700): in a new temporary
    directory that every user may enter, each file readable by all and
    executable where its original is.  remove() deletes them."""

    def __init__(self, *paths):
        self.dir = tempfile.mkdtemp(prefix="pyfault-shared-")
        try:
            os.chmod(self.dir, 0o755)
            closed = [d for d in ancestors(self.dir)
                      if not os.stat(d).st_mode & stat.S_IXOTH]
            if closed:
                raise Fail("other users cannot enter %s, where the "
                           "temporary files go: set TMPDIR to a directory "
                           "they can reach" % closed[0])
            self.paths = [self.add(path) for path in paths]
        except BaseException:
            self.remove()
            raise

    def add(self, path):
        copy = os.path.join(self.dir, os.path.basename(path))
        shutil.copyfile(path, copy)
        os.chmod(copy, 0o755 if os.access(path, os.X_OK) else 0o644)
        return copy

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def ancestors(path):
    """The directories that hold path, up to the root."""
    found = []
    parent = os.path.dirname(os.path.abspath(path))
    while parent not in found:
        found.append(parent)
        parent = os.path.dirname(parent)
    return found


def start_cpu_load(res):
    """Starts one busy loop per CPU through res, which ends them: races
    that an idle machine hides open wide under load."""
    for _ in range(len(os.sched_getaffinity(0))):
        res.popen([sys.executable, "-c", "while True: pass"])


def task_states(pid):
    """{tid: (state letter, TracerPid)} of every thread of pid."""
    states = {}
    for tdir in glob.glob("/proc/%d/task/*" % pid):
        try:
            with open(os.path.join(tdir, "status")) as f:
                status = f.read()
        except OSError:
            continue
        state = re.search(r"^State:\s+(\S)", status, re.M)
        tracer = re.search(r"^TracerPid:\s+(\d+)", status, re.M)
        states[int(os.path.basename(tdir))] = (
            state.group(1) if state else "?",
            int(tracer.group(1)) if tracer else -1)
    return states


def proc_stat(pid):
    """(state, ppid) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def end_watched(res, target):
    """Ends the program under pyfault-watch (res's first process), which
    a tracer's death would leave running: SIGTERM to pyfault-watch is
    passed on to it; SIGKILL for it too once its pid (target.pid) is
    known.  Then releases res."""
    watcher = res.procs[0] if res.procs else None
    if watcher is not None and watcher.poll() is None:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    if target is not None:
        try:
            os.kill(target.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    res.release()


def setup(*binaries):
    """Finds and lists the interpreters, and checks the binaries under
    test.  Returns (interps, notes, full, unsupported), or None after
    printing why the suite cannot run, with its failing tally."""
    interps, notes = discover()
    print_table(interps, notes, "interpreters found")
    full = [i for i in interps if i.mode == "full"]
    unsupported = [i for i in interps if i.mode == "unsupported"]
    problem = None
    unusable = [b for b in binaries
                if not (os.path.isfile(b) and os.access(b, os.X_OK))]
    if unusable:
        problem = "%s is not an executable file" % unusable[0]
    elif not full:
        problem = "no CPython 2.7 or 3.6+ interpreter found"
    else:
        missing = [i for i in interps if i.required and i.mode == "skip"]
        if missing:
            problem = "cannot use %s (listed in $%s): %s" % (
                missing[0].path, EXTRA_ENV, missing[0].reason)
    if problem:
        setup_failed(problem)
        return None
    return interps, notes, full, unsupported


def setup_failed(problem):
    print("FAIL setup: " + problem)
    print("0 passed, 1 failed")


def end_by_signal(proc, signo, pid=None):
    """Sends signo to the Python program pid (by default proc itself; a
    launcher such as unshare --fork may stand between them), whose handler
    makes it exit, and waits up to TIMEOUT for proc's status; None if it
    did not exit.  A main thread blocked in lock.acquire() can miss it: a
    signal that lands after the handlers of the previous one ran (here
    faulthandler's chained SIGUSR1) and before the lock wait starts again
    trips the handler without interrupting the wait, which then sleeps on.
    CPython notices it only at the next signal, so the signal is sent again
    each second until exit; the targets' handlers ignore the signal from
    their first run on."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            os.kill(proc.pid if pid is None else pid, signo)
        except ProcessLookupError:
            pass        # ended; its launcher is about to
        try:
            return proc.wait(timeout=max(0.0, min(
                1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                return None


def without_library(tmpdir, soname, env=None):
    """env (by default os.environ) with a library that pyfault loads with
    dlopen made unloadable: an empty file under its soname, in a directory
    of tmpdir put first in LD_LIBRARY_PATH, which the loader finds and
    refuses."""
    libdir = os.path.join(tmpdir, "no-" + soname)
    os.makedirs(libdir, exist_ok=True)
    open(os.path.join(libdir, soname), "wb").close()
    env = dict(os.environ if env is None else env)
    path = env.get("LD_LIBRARY_PATH")
    env["LD_LIBRARY_PATH"] = libdir + (":" + path if path else "")
    return env


def read_log(path, limit=3000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "(no log)"
    text = data.decode("utf-8", "backslashreplace")
    return text[-limit:] if text else "(empty)"


def expect_byte(fd, want, what, log=None):
    ready, _, _ = select.select([fd], [], [], TIMEOUT)
    if not ready:
        raise Fail("timeout (%d s) waiting for %s%s" % (
            TIMEOUT, what, "; target log:\n" + read_log(log) if log else ""))
    got = os.read(fd, 1)
    if got != want:
        raise Fail("waiting for %s: read %r instead of %r%s" % (
            what, got, want, "; target log:\n" + read_log(log) if log else ""))


def check_same(expected, actual, what, actual_label="pyfault (actual)",
               expected_label="faulthandler"):
    if expected == actual:
        return
    exp = expected.decode("utf-8", "backslashreplace").splitlines(True)
    act = actual.decode("utf-8", "backslashreplace").splitlines(True)
    diff = list(difflib.unified_diff(exp, act,
                                     "%s (expected)" % expected_label,
                                     actual_label))
    offset = next((i for i, (a, b) in enumerate(zip(expected, actual))
                   if a != b), min(len(expected), len(actual)))
    shown = "".join(line if line.endswith("\n") else line + "\n"
                    for line in diff[:150])
    if len(diff) > 150:
        shown += "... (%d more diff lines)\n" % (len(diff) - 150)
    raise Fail("%s: output differs from %s's (first difference at "
               "byte %d; %d vs %d bytes):\n%s" % (
                   what, expected_label, offset, len(expected), len(actual),
                   shown))


# ------------------------------------------------------------------- runner --

def skip_versions(full, reason_of):
    """Takes out of full (in place) every interpreter for which
    reason_of(interp) gives a reason, marking it skipped with it, so that
    the report says why the suite did not run it."""
    for interp in list(full):
        reason = reason_of(interp)
        if reason:
            full.remove(interp)
            interp.mode = "skip"
            interp.reason = reason


def run_tests(tests, interps, only=()):
    passed = failed = skipped = 0
    failures = []
    for name, func, interp in tests:
        if only and not any(s in name for s in only):
            continue
        start = time.monotonic()
        try:
            func()
        except Skip as exc:
            skipped += 1
            if interp:
                interp.skipped += 1
            print("SKIP %s: %s" % (name, exc))
        except Exception as exc:
            failed += 1
            if interp:
                interp.failed += 1
            if isinstance(exc, Fail):
                msg = str(exc)
            else:
                msg = "".join(traceback.format_exception(type(exc), exc,
                                                         exc.__traceback__))
            failures.append(name)
            print("FAIL %s (%.2f s): %s" % (name, time.monotonic() - start,
                                             msg))
        else:
            passed += 1
            if interp:
                interp.passed += 1
            print("PASS %s (%.2f s)" % (name, time.monotonic() - start))
        sys.stdout.flush()
    return passed, failed, skipped, failures



def report(interps, notes, passed, failed, skipped, failures):
    """The closing table and summary line; returns the exit status."""
    print_table(interps, notes, "interpreters (results)", final=True)
    if failures:
        print("failed: %s" % ", ".join(failures))
    summary = "%d passed, %d failed" % (passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary)
    return 1 if failed else 0


# ------------------------------------------------------ suites of pyfault --

# The one warning pyfault may print for a target newer than it knows.
VERSION_WARNING = re.compile(rb"^pyfault-(attach|watch): warning: [^\n]*\n",
                             re.M)


def run_quiet(cmd, what):
    """Runs a pyfault command that must succeed without a word on stderr
    (but a version warning); returns its stdout."""
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Fail("%s hung" % what)
    if proc.returncode != 0 or VERSION_WARNING.sub(b"", proc.stderr):
        raise Fail("%s: status %d, stderr %r" % (what, proc.returncode,
                                                 proc.stderr))
    return proc.stdout


class Suite:
    """What suite_main gives a suite's make_tests: opts (its parsed
    command line), attach, watch and core (the absolute paths of the
    commands; None where not given), interps, full and unsupported (as
    setup gives them) and tmpdir, its temporary directory."""

    def __init__(self, opts, found, tmpdir):
        for name in ("attach", "watch", "core"):
            path = getattr(opts, name, None)
            setattr(self, name, os.path.abspath(path) if path else None)
        self.opts = opts
        self.interps, _, self.full, self.unsupported = found
        self.tmpdir = tmpdir


def suite_main(doc, tmp_prefix, make_tests, reason_of=None,
               commands=("attach", "watch"), optional=(), options=None,
               keep=True, cleanup=None):
    """The command line, the table of interpreters and the run of a suite.
    Its options: --COMMAND for each of commands (required) and optional
    (pyfault-COMMAND; by default $PYFAULT_COMMAND), --keep (the temporary
    directory is left; none where keep is false), --only (repeated: the
    tests whose name holds one of them), and what options(parser) adds.
    reason_of(interp) says why a version is skipped, or None.
    make_tests(Suite) gives the (name, func, interp) list of its tests, or
    raises Fail where the suite cannot run; cleanup() runs after the tests
    and the removal of the temporary directory.  Returns the exit
    status."""
    # Ended by SIGTERM or SIGHUP (a cancelled CI job, make killed, a
    # closed terminal), a suite unwinds as on Ctrl-C: every finally clause
    # ends the processes its test started, busy loops and targets alike.
    def unwind(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, unwind)
    parser = argparse.ArgumentParser(
        description=" ".join(doc.strip().split("\n\n")[0].split()))
    for name in commands + optional:
        parser.add_argument("--" + name, metavar="PATH",
                            default=os.environ.get("PYFAULT_" + name.upper()),
                            help="pyfault-%s (default: $PYFAULT_%s)%s" % (
                                name, name.upper(),
                                "" if name in commands else ", optional"))
    if keep:
        parser.add_argument("--keep", action="store_true",
                            help="keep the temporary directory")
    parser.add_argument("--only", action="append", default=[],
                        metavar="SUBSTRING", help="run only the tests whose "
                        "name holds SUBSTRING (repeatable)")
    if options:
        options(parser)
    opts = parser.parse_args()
    if not all(getattr(opts, name) for name in commands):
        parser.error("give %s, or set %s" % (
            " and ".join("--%s PATH" % name for name in commands),
            " and ".join("PYFAULT_" + name.upper() for name in commands)))
    found = setup(*[os.path.abspath(getattr(opts, name))
                    for name in commands])
    if found is None:
        return 1
    interps, notes, full, _ = found
    if reason_of:
        skip_versions(full, reason_of)
    tmpdir = tempfile.mkdtemp(prefix=tmp_prefix)
    problem = None
    try:
        try:
            tests = make_tests(Suite(opts, found, tmpdir))
        except Fail as exc:
            problem = str(exc)
        else:
            passed, failed, skipped, failures = run_tests(tests, interps,
                                                          opts.only)
    finally:
        if keep and opts.keep:
            print("kept %s" % tmpdir)
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if cleanup:
            cleanup()
    if problem:
        setup_failed(problem)
        return 1
    return report(interps, notes, passed, failed, skipped, failures)


class OracleTarget:
    """script run by interp, under cmd_prefix (pyfault-watch ... --) if
    given, with --ready-fd and --oracle a file named stem-LABEL-N in
    tmpdir: ready once it has written b"r" (its oracle written), it ends
    when its stdin closes (end)."""

    def __init__(self, res, interp, script, tmpdir, stem, cmd_prefix=()):
        self.oracle_path = os.path.join(tmpdir, "%s-%s-%d" % (
            stem, interp.label, len(os.listdir(tmpdir))))
        rfd, wfd = res.pipe()
        cmd = list(cmd_prefix) + [interp.path, script, "--ready-fd",
                                  str(wfd), "--oracle", self.oracle_path]
        self.proc = res.popen(cmd, pass_fds=[wfd], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        res.close(wfd)
        expect_byte(rfd, b"r", "the target to be ready")

    def end(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Fail("target did not exit once its stdin closed")


def read_until(stream, done, what):
    """Reads stream (a pipe) until done(all read so far) holds; returns
    what was read.  Fails at its end or after TIMEOUT, showing it."""
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while not done(data):
        ready, _, _ = select.select([stream], [], [],
                                    max(0, deadline - time.monotonic()))
        chunk = os.read(stream.fileno(), 65536) if ready else b""
        if not chunk:
            raise Fail("%s; read:\n%s" % (
                what, data.decode("utf-8", "backslashreplace")))
        data += chunk
    return data


def per_interp(full, named_tests, interp_of=lambda interp: interp):
    """The run_tests list of each (name, func(item)) for every item of full:
    interpreters, or objects of one each, which interp_of gives."""
    return [("%s %s" % (interp_of(x).label, name), (lambda f=func, x=x: f(x)),
             interp_of(x)) for x in full for name, func in named_tests]
