#!/usr/bin/env python3
"""Functional tests of where pyfault finds structure offsets: debug info
found the way elfutils finds it, and the per-build-id offset cache.

    python3 tests/functional/test_debuginfo.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch [--keep] [--only SUBSTRING]

Debug info: for each pyenv interpreter, the test makes, from a copy of its
libpython (which has its DWARF inside), a stripped library and its debug
file (objcopy --only-keep-debug, --strip-debug, --add-gnu-debuglink), lays
them out as elfutils expects (a .build-id/xx/yyyy.debug tree, a
.gnu_debuglink file next to the library or under a debug directory, a
debuginfod server on the loopback), runs the target against the copy
(LD_LIBRARY_PATH) and checks that pyfault-attach --offsets=dwarf
--debuginfo-path=... finds the DWARF exactly there and prints
faulthandler's bytes.  Debian's stripped python3.11 is checked with its
-dbg package's debug file (in place, copied into the same layouts for a
copy of the executable, and served by debuginfod) and without it
(--debuginfo-path pointing at an empty directory: the shipped table).  Offset cache: the second dump of each interpreter takes its
offsets from the cache; corrupt, unwritable and disabled caches;
pyfault-watch finds the offsets before the program runs any Python.
With libdw unloadable, --offsets=dwarf fails naming libdw1 alone.  ELF
facts: every interpreter's second dump, from what the first kept of its
ELF files, needs no libelf; a corrupt entry is written again; a fresh
cache without libelf fails naming libelf1.

Stdlib only; Python 3.8+.  The last line is "N passed, N failed[, N
skipped]"; the exit status is 1 on any failure.
"""
import copy
import glob
import http.server
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading

import pyinterps
import test_attach
from pyinterps import TIMEOUT, Fail, Skip, Resources

HERE = os.path.dirname(os.path.abspath(__file__))
WATCH = None
TMPDIR = None
EMPTY = None            # a debug directory with nothing in it


def tool(name):
    path = shutil.which(name)
    if not path:
        raise Skip("%s (binutils) not found" % name)
    return path


def run(cmd):
    proc = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        raise Fail("`%s` failed with status %d: %s" % (
            " ".join(map(str, cmd)), proc.returncode,
            proc.stderr.decode(errors="replace")))
    return proc


def build_id(path):
    out = run([tool("readelf"), "-n", path]).stdout.decode()
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    if not m:
        raise Fail("%s has no GNU build-id" % path)
    return m.group(1)


def has_dwarf(path):
    out = run([tool("readelf"), "-S", "-W", path]).stdout.decode()
    return ".debug_info" in out


def libpython_of(interp):
    """The shared libpython of a pyenv interpreter, or None."""
    prefix = os.path.dirname(os.path.dirname(interp.real))
    major, minor = interp.version[:2]
    found = sorted(glob.glob(os.path.join(
        prefix, "lib", "libpython%d.%d*.so.1.0" % (major, minor))))
    return found[0] if found else None


class Env:
    """Sets environment variables for the processes started inside."""

    def __init__(self, **values):
        self.values = values
        self.saved = {}

    def __enter__(self):
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def offsets_line(proc):
    m = re.search(rb"offsets from (.*?) \((.*)\) in [0-9.]+ ms\n",
                  proc.stderr)
    if not m:
        raise Fail("-v did not say where the offsets came from: %r"
                   % proc.stderr)
    return m.group(1).decode(), m.group(2).decode()


def attach_once(interp, args, env=None, scenario="nested,deep,names"):
    """Starts a target and attaches with args + its pid, both under env;
    checks the dump against faulthandler's; returns the attach process."""
    res = Resources()
    try:
        with Env(**(env or {})):
            target = test_attach.Target(res, interp, scenario)
            out = test_attach.run_attach(list(args) + [target.pid])
        oracle = target.finish()
        test_attach.check_status(out, {0}, " ".join(map(str, args)))
        test_attach.check_same(oracle, out.stdout, " ".join(map(str, args)))
        return out
    finally:
        res.release()


def expect_source(out, source, detail, what):
    got_source, got_detail = offsets_line(out)
    if got_source != source or (detail is not None and got_detail != detail):
        raise Fail("%s: offsets from %s (%s), expected %s (%s)" % (
            what, got_source, got_detail, source, detail or "any"))
    print("  %s: offsets from %s (%s)" % (what, got_source, got_detail))


def expect_mapped(out, path, what):
    """The target really ran the copy, not the original."""
    if (" in %s\n" % path).encode() not in out.stderr:
        raise Fail("%s: the target did not map %s: %r" % (what, path,
                                                         out.stderr))


# -------------------------------------------------------- debug info paths --

class DebugServer:
    """A debuginfod on the loopback: GET /buildid/ID/debuginfo."""

    def __init__(self, files):
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                m = re.match(r"^/buildid/([0-9a-f]+)/debuginfo$", self.path)
                if not m or m.group(1) not in files:
                    self.send_error(404)
                    return
                with open(files[m.group(1)], "rb") as f:
                    data = f.read()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def libdebuginfod_present():
    return bool(glob.glob("/usr/lib/*/libdebuginfod-*.so") +
                glob.glob("/usr/lib*/libdebuginfod-*.so"))


def t_pyenv_paths(interp):
    lib = libpython_of(interp)
    if lib is None:
        raise Skip("no shared libpython next to %s" % interp.real)
    if not has_dwarf(lib):
        raise Skip("%s has no DWARF of its own" % lib)
    objcopy = tool("objcopy")
    work = tempfile.mkdtemp(prefix="paths-%s-" % interp.label, dir=TMPDIR)
    name = os.path.basename(lib)
    debug = os.path.join(work, "full.debug")
    stripped = os.path.join(work, "stripped.so")
    run([objcopy, "--only-keep-debug", lib, debug])
    run([objcopy, "--strip-debug", lib, stripped])
    if has_dwarf(stripped):
        raise Fail("objcopy --strip-debug left DWARF in %s" % stripped)
    bid = build_id(stripped)
    link = name + ".debug"

    def lib_dir(tag, debuglink):
        d = os.path.join(work, tag)
        os.mkdir(d)
        path = os.path.join(d, name)
        if debuglink:
            # The link's CRC is computed from the debug file named here.
            here = os.path.join(d, link)
            shutil.copy(debug, here)
            run([objcopy, "--add-gnu-debuglink=" + here, stripped, path])
            os.unlink(here)
        else:
            shutil.copy(stripped, path)
        return d, path

    def check(tag, lib_dir_, lib_path, path, expected, env=None):
        what = "%s %s" % (interp.label, tag)
        out = attach_once(interp, ["-v", "--no-cache", "--offsets=dwarf",
                                   "--debuginfo-path=" + path],
                          dict(env or {}, LD_LIBRARY_PATH=lib_dir_))
        expect_mapped(out, lib_path, what)
        expect_source(out, "DWARF", expected, what)

    # DWARF in the object itself, whatever the debuginfo path.
    check("in-object", os.path.dirname(lib), lib, EMPTY, lib)

    # .build-id/xx/yyyy.debug under a debug directory.
    d, path = lib_dir("by-build-id", False)
    dbg = os.path.join(work, "debug-by-build-id")
    by_id = os.path.join(dbg, ".build-id", bid[:2], bid[2:] + ".debug")
    os.makedirs(os.path.dirname(by_id))
    shutil.copy(debug, by_id)
    check("build-id", d, path, dbg, by_id)

    # .gnu_debuglink next to the file (the empty path entry).
    d, path = lib_dir("debuglink-next-to-file", True)
    shutil.copy(debug, os.path.join(d, link))
    check("debuglink-next-to-file", d, path, ":" + EMPTY,
          os.path.join(d, link))

    # .gnu_debuglink in the file's .debug/ subdirectory.
    d, path = lib_dir("debuglink-dot-debug", True)
    os.mkdir(os.path.join(d, ".debug"))
    shutil.copy(debug, os.path.join(d, ".debug", link))
    check("debuglink-.debug", d, path, ".debug:" + EMPTY,
          os.path.join(d, ".debug", link))

    # .gnu_debuglink under a debug directory, by the file's directory.
    d, path = lib_dir("debuglink-debug-dir", True)
    dbg = os.path.join(work, "debug-by-link")
    under = dbg + os.path.join(d, link)
    os.makedirs(os.path.dirname(under))
    shutil.copy(debug, under)
    check("debuglink-debug-dir", d, path, dbg, under)

    # Nothing anywhere: a one-line error naming what was tried.
    d, path = lib_dir("nowhere", False)
    res = Resources()
    try:
        with Env(LD_LIBRARY_PATH=d):
            target = test_attach.Target(res, interp, "nested")
        out = test_attach.run_attach(["--no-cache", "--offsets=dwarf",
                                      "--debuginfo-path=" + EMPTY,
                                      target.pid])
        target.finish()
        test_attach.check_status(out, {7}, "no DWARF anywhere")
        test_attach.check_error_line(out, "no DWARF anywhere",
                                     [bid, EMPTY])
    finally:
        res.release()


def t_pyenv_debuginfod(interp):
    """libdw's own debuginfod client, enabled by DEBUGINFOD_URLS."""
    if not libdebuginfod_present():
        raise Skip("libdebuginfod (Debian package libdebuginfod1) is not "
                   "installed: libdw has no debuginfod client to load")
    lib = libpython_of(interp)
    if lib is None or not has_dwarf(lib):
        raise Skip("no shared libpython with DWARF next to %s" % interp.real)
    objcopy = tool("objcopy")
    work = tempfile.mkdtemp(prefix="debuginfod-%s-" % interp.label,
                            dir=TMPDIR)
    d = os.path.join(work, "lib")
    os.mkdir(d)
    debug = os.path.join(work, "served.debug")
    run([objcopy, "--only-keep-debug", lib, debug])
    run([objcopy, "--strip-debug", lib, os.path.join(d,
                                                     os.path.basename(lib))])
    bid = build_id(debug)
    server = DebugServer({bid: debug})
    try:
        cache = os.path.join(work, "client-cache")
        out = attach_once(interp, ["-v", "--no-cache", "--offsets=dwarf",
                                   "--debuginfo-path=" + EMPTY],
                          {"LD_LIBRARY_PATH": d,
                           "DEBUGINFOD_URLS": server.url,
                           "DEBUGINFOD_CACHE_PATH": cache})
    finally:
        server.close()
    want = "/buildid/%s/debuginfo" % bid
    if want not in server.requests:
        raise Fail("the debuginfod server was not asked for %s: %r" % (
            want, server.requests))
    _, detail = offsets_line(out)
    if detail != "debuginfod's file for build-id " + bid:
        raise Fail("offsets not from the debuginfod client's download: %s"
                   % detail)
    downloaded = glob.glob(os.path.join(cache, bid, "debuginfo"))
    if not downloaded:
        raise Fail("libdebuginfod left no %s/%s/debuginfo" % (cache, bid))
    print("  %s debuginfod: offsets from DWARF (%s)" % (interp.label, detail))


def debian_debug_file(interp):
    bid = build_id(interp.real)
    path = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    return bid, path if os.path.exists(path) else None


def t_debian_without_dbg(interp):
    """Debian's stripped python3.X as without its -dbg package: the
    debuginfo path names an empty directory, so the shipped table."""
    out = attach_once(interp, ["-v", "--no-cache", "--debuginfo-path=" +
                               EMPTY])
    expect_source(out, "shipped table", None,
                  "%s without -dbg (empty debuginfo path)" % interp.label)


def t_debian_with_dbg(interp):
    bid, debug = debian_debug_file(interp)
    if debug is None:
        raise Skip("the -dbg package of %s is not installed (no file for "
                   "build-id %s under /usr/lib/debug/.build-id)"
                   % (interp.path, bid))
    out = attach_once(interp, ["-v", "--no-cache"])
    expect_source(out, "DWARF", debug, "%s with -dbg" % interp.label)


def t_debian_copies(interp):
    """The -dbg package's debug file, laid out as elfutils expects, for a
    copy of the executable."""
    bid, debug = debian_debug_file(interp)
    if debug is None:
        raise Skip("the -dbg package of %s is not installed"
                   % interp.path)
    out = run([tool("readelf"), "--string-dump=.gnu_debuglink",
               interp.real]).stdout.decode(errors="replace")
    m = re.search(r"\]\s+(\S+\.debug)", out)
    if not m:
        raise Skip("%s has no .gnu_debuglink" % interp.real)
    link = m.group(1)
    work = tempfile.mkdtemp(prefix="debian-%s-" % interp.label, dir=TMPDIR)

    def copy_exe(tag):
        d = os.path.join(work, tag)
        os.mkdir(d)
        exe = os.path.join(d, os.path.basename(interp.real))
        shutil.copy(interp.real, exe)
        moved = copy.copy(interp)
        moved.path = exe
        return moved, d

    def check(tag, moved, path, expected):
        what = "%s %s" % (interp.label, tag)
        out = attach_once(moved, ["-v", "--no-cache", "--offsets=dwarf",
                                  "--debuginfo-path=" + path])
        expect_mapped(out, moved.path, what)
        expect_source(out, "DWARF", expected, what)

    moved, d = copy_exe("by-build-id")
    dbg = os.path.join(work, "debug-by-build-id")
    by_id = os.path.join(dbg, ".build-id", bid[:2], bid[2:] + ".debug")
    os.makedirs(os.path.dirname(by_id))
    shutil.copy(debug, by_id)
    check("copy, build-id", moved, dbg, by_id)

    moved, d = copy_exe("debuglink-next-to-file")
    shutil.copy(debug, os.path.join(d, link))
    check("copy, debuglink next to it", moved, ":" + EMPTY,
          os.path.join(d, link))

    moved, d = copy_exe("debuglink-debug-dir")
    dbg = os.path.join(work, "debug-by-link")
    under = dbg + os.path.join(d, link)
    os.makedirs(os.path.dirname(under))
    shutil.copy(debug, under)
    check("copy, debuglink under a debug directory", moved, dbg, under)



def t_debian_debuginfod(interp):
    """The -dbg package's debug file served by a debuginfod on the
    loopback, for a copy of the executable with nothing else to go by."""
    if not libdebuginfod_present():
        raise Skip("libdebuginfod (Debian package libdebuginfod1) is not "
                   "installed: libdw has no debuginfod client to load")
    bid, debug = debian_debug_file(interp)
    if debug is None:
        raise Skip("the -dbg package of %s is not installed" % interp.path)
    work = tempfile.mkdtemp(prefix="debian-debuginfod-", dir=TMPDIR)
    moved = copy.copy(interp)
    moved.path = os.path.join(work, os.path.basename(interp.real))
    shutil.copy(interp.real, moved.path)
    server = DebugServer({bid: debug})
    try:
        out = attach_once(moved, ["-v", "--no-cache", "--offsets=dwarf",
                                  "--debuginfo-path=" + EMPTY],
                          {"DEBUGINFOD_URLS": server.url,
                           "DEBUGINFOD_CACHE_PATH": os.path.join(
                               work, "client-cache")})
    finally:
        server.close()
    if "/buildid/%s/debuginfo" % bid not in server.requests:
        raise Fail("the debuginfod server was not asked for build-id %s: %r"
                   % (bid, server.requests))
    what = "%s copy, debuginfod" % interp.label
    expect_mapped(out, moved.path, what)
    expect_source(out, "DWARF", "debuginfod's file for build-id " + bid, what)


# ------------------------------------------------------------ offset cache --

def fresh_cache():
    return tempfile.mkdtemp(prefix="xdg-", dir=TMPDIR)


def cache_entries(xdg):
    d = os.path.join(xdg, "pyfault")
    return sorted(glob.glob(os.path.join(d, "*.offsets")))


def t_cache_second_dump(interp):
    """The first dump derives the offsets from DWARF and writes the cache
    entry; the second takes them from the entry."""
    xdg = fresh_cache()
    env = {"XDG_CACHE_HOME": xdg}
    res = Resources()
    try:
        target = test_attach.Target(res, interp, "nested,deep,names")
        with Env(**env):
            outs = [test_attach.run_attach(["-v", "--offsets=dwarf",
                                            target.pid]) for _ in range(2)]
        oracle = target.finish()
    finally:
        res.release()
    for n, out in enumerate(outs, 1):
        test_attach.check_status(out, {0}, "dump #%d" % n)
        test_attach.check_same(oracle, out.stdout, "dump #%d" % n)
    first, second = (offsets_line(o) for o in outs)
    if first[0] != "DWARF" or "from the cache" in first[1]:
        raise Fail("first dump: offsets from %s (%s), expected DWARF parsed"
                   " afresh" % first)
    expected = "%s, from the cache in %s" % (first[1],
                                              os.path.join(xdg, "pyfault"))
    if second != ("DWARF", expected):
        raise Fail("second dump: offsets from %s (%s), expected DWARF (%s)"
                   % (second + (expected,)))
    entries = cache_entries(xdg)
    if len(entries) != 1:
        raise Fail("expected one cache entry, found %r" % entries)
    modes = (stat.S_IMODE(os.stat(os.path.dirname(entries[0])).st_mode),
             stat.S_IMODE(os.stat(entries[0]).st_mode))
    if modes != (0o700, 0o600):
        raise Fail("cache directory and entry have modes %o, %o; expected "
                   "700, 600" % modes)
    times = [float(re.search(rb"\) in ([0-9.]+) ms", o.stderr).group(1))
             for o in outs]
    print("  %s: offsets %.3f ms from DWARF, %.3f ms from the cache (%s)" % (
        interp.label, times[0], times[1], second[1]))


def t_cache_corrupt(interp):
    xdg = fresh_cache()
    attach_once(interp, ["--offsets=dwarf"], {"XDG_CACHE_HOME": xdg})
    entry = cache_entries(xdg)[0]
    with open(entry, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x01
        f.seek(0)
        f.write(data)
    out = attach_once(interp, ["-v", "--offsets=dwarf"],
                      {"XDG_CACHE_HOME": xdg})
    if b"offset cache entry ignored: entry corrupt" not in out.stderr:
        raise Fail("a corrupt entry went unreported under -v: %r"
                   % out.stderr)
    if "from the cache" in offsets_line(out)[1]:
        raise Fail("offsets taken from a corrupt entry")
    out = attach_once(interp, ["-v", "--offsets=dwarf"],
                      {"XDG_CACHE_HOME": xdg})
    if "from the cache" not in offsets_line(out)[1]:
        raise Fail("the corrupt entry was not written again: %r"
                   % out.stderr)


def t_cache_unwritable(interp):
    """A cache that cannot be written costs one -v note, nothing else."""
    blocker = os.path.join(fresh_cache(), "a-file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    env = {"XDG_CACHE_HOME": blocker}
    quiet = attach_once(interp, ["--offsets=dwarf"], env)
    if quiet.stderr:
        raise Fail("without -v, an unwritable cache must be silent: %r"
                   % quiet.stderr)
    out = attach_once(interp, ["-v", "--offsets=dwarf"], env)
    notes = [l for l in out.stderr.split(b"\n") if b"offset cache" in l]
    if len(notes) != 1 or b"not written" not in notes[0]:
        raise Fail("expected one 'offset cache not written' note: %r"
                   % out.stderr)


def t_cache_planted_link(interp):
    """A symbolic link where the cache directory goes is not followed."""
    xdg = fresh_cache()
    elsewhere = os.path.join(xdg, "elsewhere")
    os.mkdir(elsewhere, 0o700)
    os.symlink(elsewhere, os.path.join(xdg, "pyfault"))
    out = attach_once(interp, ["-v", "--offsets=dwarf"],
                      {"XDG_CACHE_HOME": xdg})
    if os.listdir(elsewhere):
        raise Fail("pyfault wrote through a planted link: %r"
                   % os.listdir(elsewhere))
    if b"offset cache" not in out.stderr:
        raise Fail("the refused cache directory went unreported under -v: "
                   "%r" % out.stderr)


def attach_without(interp, soname, args, env=None):
    """Attaches with args to a target, with the library soname made
    unloadable (and env) for both; returns the attach process."""
    res = Resources()
    try:
        target = test_attach.Target(res, interp, "nested,deep,names")
        with Env(**pyinterps.without_library(TMPDIR, soname, env or {})):
            out = test_attach.run_attach(list(args) + [target.pid])
        target.finish()
    finally:
        res.release()
    return out


def elf_entries(xdg):
    return sorted(glob.glob(os.path.join(xdg, "pyfault", "*.elf")))


def t_elf_facts(interp):
    """The first dump keeps what it read of the interpreter's ELF files
    (its executable, and the libpython it loaded): the next dumps the same
    from that, with libelf made unloadable."""
    xdg = fresh_cache()
    attach_once(interp, [], {"XDG_CACHE_HOME": xdg})
    entries = elf_entries(xdg)
    named = set()
    for path in entries:
        with open(path, "rb") as f:
            m = re.search(rb"\ndetail (.*)\n", f.read())
        named.add(os.path.realpath(m.group(1).decode()) if m else None)
    lib = libpython_of(interp)
    if os.path.realpath(interp.real) not in named or \
            not named <= {os.path.realpath(interp.real),
                          lib and os.path.realpath(lib)}:
        raise Fail("ELF facts entries %r name %r, expected %s and at most "
                   "its libpython" % (entries, named, interp.real))
    attach_once(interp, ["-v"], pyinterps.without_library(
        TMPDIR, "libelf.so.1", {"XDG_CACHE_HOME": xdg}))
    print("  %s: %d ELF facts entries; the next dump needs no libelf" % (
        interp.label, len(entries)))


def t_elf_facts_refused(interp):
    """A corrupt ELF facts entry costs one -v note and is written again;
    with no entry and no libelf, the one line names the package."""
    xdg = fresh_cache()
    attach_once(interp, [], {"XDG_CACHE_HOME": xdg})
    for path in elf_entries(xdg):
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0x01
            f.seek(0)
            f.write(data)
    out = attach_once(interp, ["-v"], {"XDG_CACHE_HOME": xdg})
    if b"offset cache entry ignored: entry corrupt" not in out.stderr:
        raise Fail("a corrupt ELF facts entry went unreported under -v: %r"
                   % out.stderr)
    attach_once(interp, [], pyinterps.without_library(
        TMPDIR, "libelf.so.1", {"XDG_CACHE_HOME": xdg}))

    out = attach_without(interp, "libelf.so.1", [],
                         {"XDG_CACHE_HOME": fresh_cache()})
    test_attach.check_status(out, {1}, "a fresh cache without libelf")
    test_attach.check_error_line(out, "a fresh cache without libelf",
                                 ["libelf1"])


def t_dwarf_without_libdw(interp):
    """--offsets=dwarf with libdw unloadable (an empty libdw.so.1 first in
    LD_LIBRARY_PATH): status 7, and the one line names the package to
    install, not the debug symbols, which would not help."""
    out = attach_without(interp, "libdw.so.1",
                         ["--offsets=dwarf", "--no-cache"])
    test_attach.check_status(out, {7}, "--offsets=dwarf without libdw")
    test_attach.check_error_line(out, "--offsets=dwarf without libdw",
                                 ["libdw1"])
    if b"-dbg" in out.stderr or b"debug symbols" in out.stderr:
        raise Fail("--offsets=dwarf without libdw: the message sends the "
                   "user to the debug symbols: %r" % out.stderr)


def t_no_cache(interp):
    xdg = fresh_cache()
    attach_once(interp, ["--no-cache", "--offsets=dwarf"],
                {"XDG_CACHE_HOME": xdg})
    if os.listdir(xdg):
        raise Fail("--no-cache wrote %r" % os.listdir(xdg))


# ------------------------------------------------------------------ watch ----

CRASHER = (b"import os, sys\n"
           b"def crash():\n"
           b"    os.abort()\n"
           b"sys.stderr.write('program: started\\n')\n"
           b"sys.stderr.flush()\n"
           b"crash()\n")


# 2.7 has no faulthandler: given a file name, the crasher writes there what
# the backport would print (backport_format.py) on the line that aborts.
CRASHER_PY27 = (b"import os, sys\n"
                b"sys.path.insert(0, %r)\n"
                b"import backport_format, thread\n"
                b"def crash():\n"
                b"    me = thread.get_ident(); sys.argv[1:] and open("
                b"sys.argv[1], 'w').write('Fatal Python error: Aborted"
                b"\\n\\n' + backport_format.all_threads([me], me, "
                b"sys._getframe())); os.abort()\n"
                b"sys.stderr.write('program: started\\n')\n"
                b"sys.stderr.flush()\n"
                b"crash()\n")


THREAD_ID = re.compile(rb"0x[0-9a-f]{16}")
# 3.14's C stack section: the addresses of each process, so only its place
# is compared.
C_STACK = re.compile(rb"\nCurrent thread's C stack trace \(most recent call "
                     rb"first\):\n(?:  .*\n)*")


def normalise_dump(text):
    return THREAD_ID.sub(b"0xTHREAD", C_STACK.sub(
        b"\n<the current thread's C stack>\n", text))


def t_watch_early(interp):
    """pyfault-watch finds the offsets once the program is loaded, before
    any line of Python runs, and its crash dump is faulthandler's (on 2.7,
    the backport's)."""
    script = os.path.join(TMPDIR, "crasher.py")
    py27 = interp.version < (3,)
    with open(script, "wb") as f:
        f.write(CRASHER_PY27 % HERE.encode() if py27 else CRASHER)
    expected = os.path.join(TMPDIR, "crasher-oracle.txt")
    oracle = subprocess.run([interp.path] +
                            ([script, expected] if py27 else
                             ["-X", "faulthandler", script]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=TIMEOUT, cwd=TMPDIR)
    if py27:
        with open(expected, "rb") as f:
            oracle.stderr += f.read()
    xdg = fresh_cache()
    env = dict(os.environ, XDG_CACHE_HOME=xdg)
    env.pop("PYTHONFAULTHANDLER", None)
    lines = []
    for n in range(2):
        out = subprocess.run([WATCH, "-v", "--", interp.path, script],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=TIMEOUT, cwd=TMPDIR, env=env)
        what = "pyfault-watch run #%d" % (n + 1)
        if out.returncode != -signal.SIGABRT:
            raise Fail("%s: status %d, expected death by SIGABRT; stderr %r"
                       % (what, out.returncode, out.stderr))
        first, _, rest = out.stderr.partition(b"\n")
        m = re.match(rb"pyfault-watch: process \d+: Python .* offsets from "
                     rb"(.*) in [0-9.]+ ms$", first)
        if not m or not rest.startswith(b"program: started\n"):
            raise Fail("%s: the offsets line must come before the program's"
                       " first output: %r" % (what, out.stderr))
        lines.append(m.group(1).decode())
        # -v's fault details (issue 5) are not faulthandler's.
        rest = re.sub(rb"^pyfault-watch: process \d+: SIG[A-Z]+, .*\n", b"",
                      rest, flags=re.M)
        pyinterps.check_same(normalise_dump(oracle.stderr),
                             normalise_dump(rest), what,
                             "pyfault-watch (actual)")
    if "from the cache" in lines[0] and interp.version < (3, 13):
        raise Fail("the first run found a cache entry in a fresh cache")
    if interp.version < (3, 13) and "from the cache" not in lines[1]:
        raise Fail("the second run did not use the cache: %s" % lines[1])
    for line in lines:
        print("  %s pyfault-watch: offsets from %s" % (interp.label, line))


# ------------------------------------------------------------------- main ----

def skip_no_pyenv():
    raise Skip("no pyenv interpreter: the objcopy fixtures need a libpython "
               "with its DWARF inside")


def make_tests(suite):
    global WATCH, TMPDIR, EMPTY
    signal.pthread_sigmask(signal.SIG_BLOCK, {test_attach.READY_SIG})
    test_attach.ATTACH, WATCH = suite.attach, suite.watch
    TMPDIR = test_attach.TMPDIR = suite.tmpdir
    EMPTY = os.path.join(TMPDIR, "empty-debug-dir")
    os.mkdir(EMPTY)
    # Never the user's own cache: every test names its own.
    os.environ["XDG_CACHE_HOME"] = os.path.join(TMPDIR, "default-cache")
    full = suite.full
    pyenv = [i for i in full if i.origin.startswith("pyenv")]
    # The tables describe release builds: python3.11d is not one; nor are
    # builds of one's own ($PYFAULT_TEST_PYTHONS).
    debian = [i for i in full if i.path.startswith("/usr/bin/")
              and not i.debug]
    # The cache holds offsets read from DWARF.
    dwarf = [i for i in full if test_attach.dwarf_offsets_expected(i)]
    tests = (
        pyinterps.per_interp(full, [("watch-offsets-before-python",
                                     t_watch_early),
                                    ("elf-facts", t_elf_facts)]) +
        pyinterps.per_interp(dwarf, [("cache-second-dump",
                                      t_cache_second_dump)]) +
        pyinterps.per_interp(pyenv, [("debuginfo-paths", t_pyenv_paths),
                                     ("debuginfod", t_pyenv_debuginfod)]) +
        pyinterps.per_interp(debian, [
            ("debian-without-dbg", t_debian_without_dbg),
            ("debian-with-dbg", t_debian_with_dbg),
            ("debian-dbg-file-layouts", t_debian_copies),
            ("debian-debuginfod", t_debian_debuginfod)]))
    if not pyenv:
        tests.append(("debuginfo-paths (pyenv)", skip_no_pyenv, None))
    return tests + pyinterps.per_interp([dwarf[-1]], [
        ("cache-corrupt-entry", t_cache_corrupt),
        ("cache-unwritable", t_cache_unwritable),
        ("cache-planted-link", t_cache_planted_link),
        ("no-cache", t_no_cache),
        ("elf-facts-refused", t_elf_facts_refused),
        ("dwarf-without-libdw", t_dwarf_without_libdw)])


def main():
    return pyinterps.suite_main(__doc__, "pyfault-debuginfo-", make_tests)


if __name__ == "__main__":
    sys.exit(main())
