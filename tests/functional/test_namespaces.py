#!/usr/bin/env python3
"""Functional tests of pyfault-attach on targets that see other files than
pyfault does: containers, deleted and replaced interpreters.

    python3 tests/functional/test_namespaces.py --attach src/pyfault-attach \\
        [--watch src/pyfault-watch] [--keep] [--only SUBSTRING]

Each target is tests/functional/target_threads.py with its main thread
blocked (--main-blocked; the driver waits through /proc until every thread
sleeps), started through a launcher; pyfault-attach's dump is compared with
the one the target's own faulthandler writes afterwards (SIGUSR1), with
"Current thread" read as "Thread" (no thread holds the GIL).  The
interpreter's ELF file ("the object": the libpython it maps, or the
executable of a static build) is what differs:

  * container: the target runs in new pid and mount namespaces (`unshare
    --pid --mount --fork --mount-proc`, as pid 1), where the object is
    bind-mounted at a path that holds another file in ours (a copy of
    true(1)); the driver checks that the two views differ (inodes) and
    that the target is pid 1 there (NSpid).  pyfault-attach from outside
    must read the object under /proc/PID/root and say so with -v, and
    pyfault-attach run inside the namespaces (`nsenter`) against pid 1
    must give the same dump.
  * deleted / replaced: the object is a copy in a temporary directory,
    deleted after the target started, or replaced there by another file
    (renamed over it, or a bind mount over it in the target's own mount
    namespace, where the maps show no "(deleted)": only the inode tells).
    pyfault-attach must read the mapped copy (/proc/PID/map_files) and say
    so with -v.
  * deleted, unprivileged: as user nobody, pyfault-attach may not open
    map_files: it must fail with status 14 and one line naming map_files,
    leaving the target unharmed (then root dumps it).  Debian's python3.11
    only (pyenv's trees usually sit in a home directory closed to nobody).
    The target script runs from a copy in a directory nobody may enter,
    as the checkout may lie in one closed to other users.
  * debug file in the target's root only: pyfault-attach runs in a mount
    namespace of its own where /usr/lib/debug is an empty tmpfs; the
    separate debug file of a stripped interpreter (Debian's python3.11
    with python3.11-dbg) must be found under /proc/PID/root.
  * pyfault-watch on `unshare ... python watch_targets.py crash segv`:
    the dump of the crashing pid 1 of the namespaces, compared with
    -X faulthandler's (test_watch.py's normalisation of thread ids), and
    its death by SIGSEGV: the kernel does not kill a traced init with its
    fatal signal, so pyfault-watch must let it go.

Where this driver may not open map_files itself (not root, or root
without CAP_SYS_ADMIN as in a default Docker container), the deleted and
replaced interpreter tests expect status 14 and one line naming map_files
instead of the dump.  The others need root and unshare, nsenter or setpriv
(util-linux), and a kernel that lets unshare make the namespaces; without
them they are skipped with the reason.  Stdlib only; Python 3.8+.  The
last line of output is "N passed, N failed[, N skipped]"; the exit status
is 1 on any failure.
"""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys

import pyinterps
from pyinterps import TIMEOUT, Fail, Skip, Resources, expect_byte
import test_attach
import test_watch
from test_attach import (check_error_line, check_same, check_status,
                         run_attach, tmp_path, wait_all_sleeping)
from test_embedded import Build

TARGET = test_attach.TARGET
SCENARIO = "nested,noframe"
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]

TOOLS = {}          # name -> path, or None when missing
UNSHARE_PROBLEM = None
WATCH = None
MAP_FILES_PROBLEM = None    # then a mapped copy must be refused (status 14)


class Launched(test_attach.Target):
    """target_threads.py run by launcher (a command line that ends by
    exec'ing the interpreter, given last); the Python process is the
    launcher itself or, with in_child, its only child (unshare --fork)."""

    def __init__(self, res, launcher, label, env=None, in_child=False,
                 oracle_dir=None, free_threaded=False, target=TARGET):
        self.res = res
        self.free_threaded = free_threaded
        name = "oracle-%s.txt" % label
        self.oracle = (os.path.join(oracle_dir, name) if oracle_dir
                       else tmp_path(name))
        self.log = tmp_path("%s.log" % label)
        self.rfd, wfd = res.pipe()
        cmd = list(launcher) + [target, "--ready-fd", str(wfd), "--oracle",
                                self.oracle, "--scenario", SCENARIO,
                                "--main-blocked"]
        with open(self.log, "wb") as log:
            self.proc = res.popen(cmd, pass_fds=[wfd], stdout=log,
                                  stderr=subprocess.STDOUT, env=env)
        res.close(wfd)
        expect_byte(self.rfd, b"r", "%s to be ready" % label, self.log)
        self.pid = self.only_child() if in_child else self.proc.pid
        wait_all_sleeping(self.pid)

    def only_child(self):
        path = "/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)
        with open(path) as f:
            children = [int(x) for x in f.read().split()]
        if len(children) != 1:
            raise Fail("%s has children %r, expected one" % (
                self.proc.args[0], children))
        return children[0]

    def finish(self):
        oracle = test_attach.Target.finish(self)
        return oracle.replace(b"Current thread 0x", b"Thread 0x")


def mapping_of(pid, path):
    """(inode, deleted) of the first mapping of path in pid's maps."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) < 6:
                continue
            name = fields[5].rstrip("\n")
            deleted = name.endswith(" (deleted)")
            if deleted:
                name = name[:-len(" (deleted)")]
            if name == path:
                return int(fields[4]), deleted
    raise Fail("process %d does not map %s" % (pid, path))


def ns_pids(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^NSpid:\s+(.*)$", f.read(), re.M)
    return [int(x) for x in m.group(1).split()] if m else [pid]


def check_verbose(out, what, *phrases):
    err = out.stderr.decode(errors="replace")
    for phrase in phrases:
        if phrase not in err:
            raise Fail("%s: -v should say %r; stderr: %r" % (what, phrase,
                                                             err))
    print("  %s: %s" % (what, err.split("\n")[0]))


def need(*tools):
    if os.geteuid() != 0:
        raise Skip("needs root (namespaces, mounts, /proc/PID/map_files)")
    for tool in tools:
        if TOOLS.get(tool) is None:
            raise Skip("%s (util-linux) not found" % tool)
    if "unshare" in tools and UNSHARE_PROBLEM:
        raise Skip(UNSHARE_PROBLEM)


def decoy(path):
    """Another ELF file at path: true(1), no Python in it."""
    shutil.copyfile(shutil.which("true"), path)


def python_env(build, libdir=None):
    """The environment of an interpreter started from a copy or another
    path: its own library directory first, its own prefix."""
    env = dict(os.environ)
    env["PYTHONHOME"] = build.prefix
    if libdir:
        env["LD_LIBRARY_PATH"] = libdir
    return env


# -------------------------------------------------------------- container ---

def t_container(build):
    need("unshare", "nsenter")
    interp = build.interp
    real = build.mapped or interp.real
    view = tmp_path("view-%s" % interp.label)
    os.mkdir(view)
    seen = os.path.join(view, os.path.basename(real))
    decoy(seen)
    # In the target's mount namespace, seen is the object; in ours, true(1).
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    python = [interp.path] if build.mapped else [seen]
    launcher = ([TOOLS["unshare"], "--pid", "--mount", "--fork",
                 "--mount-proc", "--kill-child", "sh", "-c", script, "sh", real, seen] +
                python)
    res = Resources()
    try:
        target = Launched(res, launcher, "container-%s" % interp.label,
                          env=python_env(build, view if build.mapped
                                         else None),
                          in_child=True, free_threaded=interp.free_threaded)
        inode, _ = mapping_of(target.pid, seen)
        if os.stat(seen).st_ino == inode:
            raise Fail("the target maps the same %s as ours: the views do "
                       "not differ" % seen)
        pids = ns_pids(target.pid)
        if pids != [target.pid, 1]:
            raise Fail("NSpid of %d is %r, expected [%d, 1]" % (
                target.pid, pids, target.pid))
        outside = run_attach(["-v", target.pid])
        inside = run_attach(["-v", "1"], pre=[
            TOOLS["nsenter"], "--target", str(target.pid), "--pid",
            "--mount", "--"])
        oracle = target.finish()
        check_status(outside, {0}, "from outside the namespaces")
        check_same(oracle, outside.stdout, "from outside the namespaces")
        check_verbose(outside, "outside",
                      "process %d (1 in its pid namespace)" % target.pid,
                      " in %s (in another mount namespace or root: read as "
                      "/proc/%d/root%s)" % (seen, target.pid, seen))
        check_status(inside, {0}, "inside the namespaces, on pid 1")
        check_same(oracle, inside.stdout, "inside the namespaces, on pid 1")
        check_verbose(inside, "inside", "process 1: ", " in %s\n" % seen)
    finally:
        res.release()


# ------------------------------------------------------ deleted, replaced ---

def copy_object(build, where):
    """A copy of the object in where, and the launcher that runs the
    interpreter with it."""
    interp = build.interp
    real = build.mapped or interp.real
    copy = os.path.join(where, os.path.basename(real))
    shutil.copy2(real, copy)
    python = [interp.path] if build.mapped else [copy]
    return copy, python, python_env(build, where if build.mapped else None)


def check_mapped_copy(out, oracle, what, copy, pid):
    """The dump read from the mapped copy, or, where this driver may not
    open map_files either, status 14 and one line naming it."""
    if MAP_FILES_PROBLEM:
        check_status(out, {14}, what)
        check_error_line(out, what, ["/proc/%d/map_files/" % pid])
        print("  %s (%s): %s" % (what, MAP_FILES_PROBLEM,
                                 out.stderr.decode().strip()))
        return
    check_status(out, {0}, what)
    check_same(oracle, out.stdout, what)
    check_verbose(out, what, " in %s (deleted or replaced on disk: read "
                  "from /proc/%d/map_files/" % (copy, pid))


def t_changed(build, how):
    if how == "mounted-over":
        need("unshare", "nsenter")
    interp = build.interp
    where = tmp_path("copy-%s-%s" % (how, interp.label))
    os.mkdir(where)
    copy, python, env = copy_object(build, where)
    other = os.path.join(where, "other")
    decoy(other)
    # unshare without --fork execs in place: same process, own mount
    # namespace, where a mount can cover the copy.
    launcher = ([TOOLS["unshare"], "--mount"] if how == "mounted-over"
                else []) + python
    res = Resources()
    try:
        target = Launched(res, launcher, "%s-%s" % (how, interp.label),
                          env=env, free_threaded=interp.free_threaded)
        if how == "deleted":
            os.unlink(copy)
        elif how == "replaced":
            os.rename(other, copy)
        else:
            subprocess.run([TOOLS["nsenter"], "--target", str(target.pid),
                            "--mount", "--", "mount", "--bind", other, copy],
                           check=True, timeout=TIMEOUT)
        _, deleted = mapping_of(target.pid, copy)
        if deleted != (how != "mounted-over"):
            raise Fail("the maps of %d say deleted=%s for %s" % (
                target.pid, deleted, copy))
        out = run_attach(["-v", target.pid])
        oracle = target.finish()
        check_mapped_copy(out, oracle, how, copy, target.pid)
    finally:
        res.release()


def t_deleted_unprivileged(build):
    need("setpriv")
    interp = build.interp
    if build.mapped or not interp.real.startswith("/usr/"):
        raise Skip("only for a static interpreter of the system (Debian's "
                   "python3.11): user nobody must be able to run it")
    # What nobody's Python reads and writes, where nobody can reach it: the
    # checkout may lie in a directory closed to other users.  (setpriv
    # execs pyfault-attach with root's capabilities still in effect.)
    shared = pyinterps.SharedCopies(TARGET)
    where = shared.dir
    target_copy, = shared.paths
    try:
        os.chmod(where, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
        copy, python, env = copy_object(build, where)
        res = Resources()
        try:
            target = Launched(res, [TOOLS["setpriv"]] + NOBODY + python,
                              "nobody-%s" % interp.label, env=env,
                              oracle_dir=where,
                              free_threaded=interp.free_threaded,
                              target=target_copy)
            os.unlink(copy)
            denied = run_attach([target.pid], pre=[TOOLS["setpriv"]] +
                                NOBODY)
            if denied.returncode == 126 and not denied.stderr.startswith(
                    test_attach.PREFIX):
                raise Skip("user nobody cannot execute %s"
                           % test_attach.ATTACH)
            out = run_attach(["-v", target.pid])
            oracle = target.finish()
            what = "nobody on a deleted interpreter"
            check_status(denied, {14}, what)
            check_error_line(denied, what, ["/map_files/"])
            print("  %s: %s" % (what, denied.stderr.decode().strip()))
            check_mapped_copy(out, oracle, "root after that", copy,
                              target.pid)
        finally:
            res.release()
    finally:
        shared.remove()


def t_watch_container(build):
    """pyfault-watch on a program that runs Python as pid 1 of new pid and
    mount namespaces, which crashes: faulthandler's dump of the oracle run
    (-X faulthandler), headed "Process PID:" with the pid in pyfault's
    namespace (it is not the program pyfault-watch started), and the same
    death by SIGSEGV: a traced init is not killed by its fatal signal, so
    pyfault-watch must let it go."""
    need("unshare")
    if WATCH is None:
        raise Skip("no pyfault-watch given (--watch or $PYFAULT_WATCH)")
    interp = build.interp
    ns = [TOOLS["unshare"], "--pid", "--mount", "--fork", "--mount-proc",
          "--kill-child", interp.path]
    res = test_watch.WatchResources()
    try:
        oracle = test_watch.Child(res, ns + ["-X", "faulthandler",
                                             test_watch.TARGET, "crash",
                                             "segv"])
        watched = test_watch.Child(res, [WATCH, "--"] + ns + [
            test_watch.TARGET, "crash", "segv"])
        oracle.finish()
        watched.finish()
        what = "crash segv in namespaces"
        for child in (oracle, watched):
            if child.returncode != -signal.SIGSEGV:
                raise Fail("%s: expected death by SIGSEGV; %s" % (
                    what, child.describe()))
        res.check_no_program_left(what)
        header = re.search(rb"^Process (\d+):\n", watched.stderr, re.M)
        if not header or int(header.group(1)) == 1:
            raise Fail("%s: expected a Process PID: header with the pid "
                       "seen from here; %s" % (what, watched.describe()))
        # unshare re-raises its child's signal: a program that is not
        # Python dies of it, which pyfault-watch notes in one line.
        stderr = re.sub(rb"^pyfault-watch: process \d+ is not a Python "
                        rb"process \(no _PyRuntime( or _PyThreadState_Current)?"
                        rb" in [^)]*unshare\).*\n",
                        b"", watched.stderr.replace(header.group(0), b""),
                        flags=re.M)
        want_out, want_err = test_watch.normalise(oracle)
        got_out, got_err = test_watch.normalise(watched, stderr)
        check_same(want_out, got_out, what + " (program's stdout)")
        check_same(want_err, got_err, what + " (stderr)")
        print("  %s: %s" % (what, header.group(0).decode().strip()))
    finally:
        res.release()


def t_debug_file_in_target_root(build):
    """pyfault-attach in a mount namespace of its own where /usr/lib/debug
    is an empty tmpfs, on a target in ours: the target's separate debug
    file is found under /proc/PID/root only."""
    need("unshare")
    interp = build.interp
    res = Resources()
    try:
        target = test_attach.Target(res, interp, SCENARIO)
        # No cache: the debug file itself must be found each time.
        plain = run_attach(["-v", "--no-cache", "--offsets=dwarf",
                            target.pid])
        m = re.search(rb"offsets from DWARF \((/usr/lib/debug/[^)]*)\)",
                      plain.stderr)
        if plain.returncode != 0 or not m:
            target.finish()
            source = re.search(rb"offsets from .*", plain.stderr)
            raise Skip("its DWARF is not in a separate file under "
                       "/usr/lib/debug (%s)" % (
                           source.group(0) if source else plain.stderr
                       ).decode(errors="replace"))
        script = 'mount -t tmpfs none /usr/lib/debug && exec "$@"'
        hidden = run_attach(["-v", "--no-cache", "--offsets=dwarf",
                             target.pid], pre=[
            TOOLS["unshare"], "--mount", "sh", "-c", script, "sh"])
        oracle = target.finish()
        what = "debug file only in the target's view"
        check_status(hidden, {0}, what)
        check_same(oracle, hidden.stdout, what)
        check_verbose(hidden, what, "offsets from DWARF (%s)"
                      % m.group(1).decode())
    finally:
        res.release()


PER_BUILD = [
    ("container (pid+mount namespaces)", t_container),
    ("interpreter deleted", lambda b: t_changed(b, "deleted")),
    ("interpreter replaced (renamed over)",
     lambda b: t_changed(b, "replaced")),
    ("interpreter replaced (mounted over)",
     lambda b: t_changed(b, "mounted-over")),
    ("interpreter deleted, attach as nobody (status 14)",
     t_deleted_unprivileged),
    ("separate debug file in the target's root only",
     t_debug_file_in_target_root),
    ("pyfault-watch, crash in pid+mount namespaces", t_watch_container),
]


# ------------------------------------------------------------------ main ----

def probe_map_files():
    """Why this driver may not open /proc/PID/map_files entries (nor may
    pyfault-attach run by it), or None."""
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/"):
                break
    try:
        os.close(os.open("/proc/self/map_files/" + fields[0], os.O_RDONLY))
    except OSError as exc:
        return "map_files not openable here: %s" % exc.strerror
    return None


def probe_unshare():
    """Why unshare cannot make the namespaces here, or None."""
    try:
        out = subprocess.run([TOOLS["unshare"], "--pid", "--mount", "--fork",
                              "--mount-proc", "true"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        return "unshare cannot run: %s" % exc
    if out.returncode != 0:
        return "unshare --pid --mount fails here: %s" % (
            out.stderr.decode(errors="replace").strip())
    return None


def make_tests(suite):
    global UNSHARE_PROBLEM, MAP_FILES_PROBLEM, WATCH
    test_attach.ATTACH, WATCH = suite.attach, suite.watch
    test_attach.TMPDIR = suite.tmpdir
    test_watch.SCRATCH = os.path.join(suite.tmpdir, "cwd")
    os.mkdir(test_watch.SCRATCH)
    test_watch.SUBREAPER = test_watch.become_subreaper()
    signal.pthread_sigmask(signal.SIG_BLOCK, {test_attach.READY_SIG})
    for tool in ("unshare", "nsenter", "setpriv"):
        TOOLS[tool] = shutil.which(tool)
    if os.geteuid() == 0 and TOOLS["unshare"]:
        UNSHARE_PROBLEM = probe_unshare()
    MAP_FILES_PROBLEM = probe_map_files()
    print("root: %s; %s; namespaces: %s; %s" % (
        "yes" if os.geteuid() == 0 else "NO (only the deleted and replaced "
        "interpreter tests run)",
        ", ".join("%s %s" % (t, p or "MISSING") for t, p in TOOLS.items()),
        UNSHARE_PROBLEM or ("usable" if os.geteuid() == 0 and
                            TOOLS["unshare"] else "not tried"),
        MAP_FILES_PROBLEM or "map_files openable"))
    builds = [Build(i) for i in suite.full]
    for build in builds:
        print("  %s: object %s" % (build.interp.label,
                                   build.mapped or build.interp.real))
    sys.stdout.flush()
    return pyinterps.per_interp(builds, PER_BUILD, lambda b: b.interp)


def main():
    return pyinterps.suite_main(
        __doc__, "pyfault-namespaces-", make_tests,
        lambda i: i.version < (3,) and (
            "the namespace targets are Python 3 programs and the oracle is "
            "Python 3's faulthandler"), commands=("attach",),
        optional=("watch",))


if __name__ == "__main__":
    sys.exit(main())
