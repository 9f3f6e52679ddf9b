#!/usr/bin/env python3
"""Functional tests of the Python thread names (threading's Thread.name)
that pyfault-attach and pyfault-watch show in --status, --format json and
--native=merged, against every CPython on this machine, 2.7 included.

    python3 tests/functional/test_thread_names.py \\
        --attach src/pyfault-attach --watch src/pyfault-watch \\
        [--keep] [--only SUBSTRING]

tests/functional/names_target.py starts threads named at creation, left
to threading's default name, renamed after start, and one threading does
not know (started by the low-level thread module), and writes the oracle
from inside: threading.enumerate()'s id -> name.  Checked per
interpreter:
  * pyfault-attach --format json: python_name of each thread is the
    oracle's name, null for the thread threading does not know; the same
    with --offsets=table (2.7 to 3.13, release builds);
  * pyfault-attach --status: ', Python name "NAME"' on the same threads,
    NAME escaped as faulthandler escapes (and '"', '\\');
  * pyfault-attach --native=merged: the quoted name in each header;
  * pyfault-attach without options: no name (faulthandler's text);
  * pyfault-watch --status, SIGUSR1 to the watcher: the status lines.

Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import json
import os
import re
import signal
import sys

import json_check
import pyinterps
from pyinterps import run_quiet, Fail, Resources

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "names_target.py")
STATUS_LINE = re.compile(
    rb'^  Thread 0x([0-9a-f]{16}): tid (?:\d+|\?) "(?:.*?)"'
    rb'(?:, Python name "(.*?)")?: .*$', re.M)
HEADER = re.compile(rb'^(?:Current thread|Thread) 0x([0-9a-f]{16})'
                    rb'(?: \[[^]]*\]| <[^>]*>)?( "(.*?)")? '
                    rb'\(most recent call first\):$', re.M)

ATTACH = WATCH = TMPDIR = None


def escaped(name):
    """name as pyfault quotes it: as faulthandler escapes a str, '"' and
    '\\' too."""
    return "".join("\\x%02x" % ord(ch) if ch in '"\\'
                   else json_check.fh_escape(ch) for ch in name).encode(
                       "ascii")


class Target(pyinterps.OracleTarget):
    def __init__(self, res, interp, cmd_prefix=()):
        super().__init__(res, interp, TARGET, TMPDIR, "names", cmd_prefix)
        with open(self.oracle_path) as f:
            self.names = dict((int(k), v) for k, v in json.load(f).items())
        if len(self.names) != 4:
            raise Fail("oracle: expected 4 threads, got %r" % self.names)
        self.pid = self.proc.pid


def check_lines(pattern, out, names, what, group=2):
    seen = {}
    for m in pattern.finditer(out):
        seen[int(m.group(1), 16)] = m.group(group)
    want = dict((ident, escaped(name)) for ident, name in names.items())
    unknown = [ident for ident in seen if ident not in names]
    if len(unknown) != 1 or seen[unknown[0]] is not None or any(
            seen.get(ident) != name for ident, name in want.items()):
        raise Fail("%s: names %r, threading says %r (and one thread it "
                   "does not know, without a name)" % (what, seen, want))


def check_json(doc, names):
    try:
        threads = json_check.documents(doc, "pyfault-attach")[0]["threads"]
    except (ValueError, json_check.SchemaError) as exc:
        raise Fail("--format json: %s" % exc)
    got = dict((t["thread_id"], t["python_name"]) for t in threads)
    unknown = [i for i in got if i not in names]
    if len(unknown) != 1 or got[unknown[0]] is not None or any(
            got.get(i) != n for i, n in names.items()):
        raise Fail("--format json: python_name %r, threading says %r" % (
            got, names))


def t_attach(interp):
    res = Resources()
    try:
        target = Target(res, interp)
        pid = str(target.pid)
        docs = [run_quiet([ATTACH, "--format", "json", pid],
                          "--format json")]
        # The shipped tables (2.7 to 3.13) give the same offsets.
        if interp.version[:2] <= (3, 13) and not interp.debug:
            docs.append(run_quiet([ATTACH, "--offsets=table", "--format",
                                   "json", pid],
                                  "--offsets=table --format json"))
        status = run_quiet([ATTACH, "--status", pid], "--status")
        merged = run_quiet([ATTACH, "--native=merged", pid],
                           "--native=merged")
        plain = run_quiet([ATTACH, pid], "pyfault-attach")
        target.end()
        for doc in docs:
            check_json(doc, target.names)
        check_lines(STATUS_LINE, status, target.names, "--status")
        check_lines(HEADER, merged, target.names, "--native=merged", 3)
        if any(m.group(2) for m in HEADER.finditer(plain)):
            raise Fail("names in faulthandler's text:\n%s" %
                       plain.decode("utf-8", "replace"))
        print("  %s: %s" % (interp.label, ", ".join(
            repr(n) for n in sorted(target.names.values()))))
    finally:
        res.release()


def t_watch(interp):
    res = Resources()
    try:
        target = Target(res, interp, [WATCH, "--status", "--"])
        target.proc.send_signal(signal.SIGUSR1)
        err = pyinterps.read_until(
            target.proc.stderr,
            lambda err: len(STATUS_LINE.findall(err)) >= 5 and
            b"\n\n" in err, "no status header from pyfault-watch")
        check_lines(STATUS_LINE, err.split(b"\n\n")[0], target.names,
                    "pyfault-watch --status")
        target.end()
    finally:
        res.release()


def make_tests(suite):
    global ATTACH, WATCH, TMPDIR
    ATTACH, WATCH, TMPDIR = suite.attach, suite.watch, suite.tmpdir
    return pyinterps.per_interp(suite.full, [("attach-names", t_attach),
                                             ("watch-names", t_watch)])


def main():
    return pyinterps.suite_main(__doc__, "pyfault-names-", make_tests)


if __name__ == "__main__":
    sys.exit(main())
