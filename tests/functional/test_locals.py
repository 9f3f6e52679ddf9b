#!/usr/bin/env python3
"""Functional tests of --locals of pyfault-attach and pyfault-watch,
against every CPython on this machine, 2.7 included.

    python3 tests/functional/test_locals.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch [--keep] [--only SUBSTRING]

tests/functional/locals_target.py parks its main thread in a frame whose
locals hold every kind of value --locals renders, and writes the oracle
from inside: its stack with each frame's f_locals rendered by the same
rules.  Checked per interpreter:
  * pyfault-attach --locals: the thread's frames and locals are the
    oracle's, byte for byte (also with --offsets=table, 2.7 to 3.13);
  * pyfault-attach --locals --format json: each frame's locals (name,
    repr) are the oracle's;
  * pyfault-attach without --locals: the frames alone;
  * pyfault-watch --locals, SIGUSR1 to the watcher: the oracle's lines.

Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import os
import signal
import sys
import time

import json_check
import pyinterps
from pyinterps import run_quiet, TIMEOUT, Fail, Resources

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "locals_target.py")
READ_NR = 0             # x86_64 read(), the only architecture pyfault reads

ATTACH = WATCH = TMPDIR = None


class Target(pyinterps.OracleTarget):
    def __init__(self, res, interp, cmd_prefix=()):
        super().__init__(res, interp, TARGET, TMPDIR, "locals", cmd_prefix)
        with open(self.oracle_path, "rb") as f:
            self.oracle = f.read()
        with open(self.oracle_path + ".pid") as f:
            self.pid = int(f.read())
        self._wait_in_read()
        if b"    huge = " not in self.oracle:
            raise Fail("oracle without locals:\n%s" % self.oracle.decode())

    def _wait_in_read(self):
        """b"r" is written on the line of the read(), before it: the
        frames are the oracle's only once the thread sleeps there."""
        deadline = time.monotonic() + TIMEOUT
        path = "/proc/%d/task/%d/syscall" % (self.pid, self.pid)
        while True:
            with open(path) as f:
                if f.read().split()[0] == str(READ_NR):
                    return
            if time.monotonic() > deadline:
                raise Fail("the target never slept in read()")
            time.sleep(0.001)


def body(out, what):
    """The one thread's lines after its header."""
    lines = out.split(b"\n", 1)
    if len(lines) != 2 or not lines[0].endswith(
            b"(most recent call first):"):
        raise Fail("%s: not one thread: %r" % (what, out))
    return lines[1]


def oracle_frames(oracle):
    """[(frame line, [(name, repr)])] of the oracle."""
    frames = []
    for line in oracle.decode().splitlines():
        if line.startswith("  File "):
            frames.append((line, []))
        else:
            name, _, value = line[4:].partition(" = ")
            frames[-1][1].append((name, value))
    return frames


def t_attach(interp):
    res = Resources()
    try:
        target = Target(res, interp)
        pid = str(target.pid)
        text = run_quiet([ATTACH, "--locals", pid], "--locals")
        # The shipped tables (2.7 to 3.13) give the same offsets.
        table = None
        if interp.version[:2] <= (3, 13) and not interp.debug:
            table = run_quiet([ATTACH, "--offsets=table", "--locals",
                               pid], "--offsets=table --locals")
        doc = run_quiet([ATTACH, "--locals", "--format", "json", pid],
                        "--locals --format json")
        plain = run_quiet([ATTACH, pid], "pyfault-attach")
        target.end()
        pyinterps.check_same(target.oracle, body(text, "--locals"),
                             "--locals", "pyfault-attach (actual)",
                             "frame.f_locals")
        if table is not None:
            pyinterps.check_same(target.oracle, body(table, "--offsets"),
                                 "--offsets=table --locals",
                                 "pyfault-attach (actual)", "frame.f_locals")
        frames = oracle_frames(target.oracle)
        without = b"".join(f.encode() + b"\n" for f, _ in frames)
        pyinterps.check_same(without, body(plain, "pyfault-attach"),
                             "without --locals", "pyfault-attach (actual)",
                             "the frames alone")
        try:
            threads = json_check.documents(doc, "pyfault-attach")[0][
                "threads"]
        except (ValueError, json_check.SchemaError) as exc:
            raise Fail("--format json: %s" % exc)
        got = [[(v["name"], v["repr"]) for v in f["locals"]]
               for f in threads[0]["frames"]]
        want = [[(n, r) for n, r in locals_] for _, locals_ in frames]
        if got != want:
            raise Fail("--format json: locals\n%r\nexpected\n%r" % (got,
                                                                    want))
        print("  %s: %d locals in %d frames" % (
            interp.label, sum(len(x) for x in want), len(want)))
    finally:
        res.release()


def t_watch(interp):
    res = Resources()
    try:
        target = Target(res, interp, [WATCH, "--locals", "--"])
        target.proc.send_signal(signal.SIGUSR1)
        pyinterps.read_until(target.proc.stderr,
                             lambda err: target.oracle in err,
                             "pyfault-watch --locals: not the oracle's lines")
        target.end()
    finally:
        res.release()


def make_tests(suite):
    global ATTACH, WATCH, TMPDIR
    ATTACH, WATCH, TMPDIR = suite.attach, suite.watch, suite.tmpdir
    return pyinterps.per_interp(suite.full, [("attach-locals", t_attach),
                                             ("watch-locals", t_watch)])


def main():
    return pyinterps.suite_main(__doc__, "pyfault-locals-", make_tests)


if __name__ == "__main__":
    sys.exit(main())
