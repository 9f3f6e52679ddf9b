#!/usr/bin/python3
"""The long version of tests/functional/test_stress.py, with its figures.

What it runs
  The same scenarios as `make check` (see that file's docstring), with the
  counts of the issue instead of CI's:
    * 10,000 attach/dump/detach cycles against the 20-thread stress target
      (threads created and ended all the time, every thread in blocking
      system calls), its result and system calls checked at the end;
    * 2,000 signals (SIGINT, SIGTERM, SIGHUP, SIGPIPE, closed output pipe)
      sent to pyfault-attach at random points;
    * SIGINT/SIGTERM/SIGHUP/SIGPIPE injected by strace at every system call
      of a pyfault-attach run, and SIGKILL at every system call of a
      pyfault-watch run;
    * 200 pyfault-watch runs killed by SIGKILL at random points;
    * a program forking 10,000 children under pyfault-watch;
  on Debian's python3 (with --all-interpreters, on every interpreter
  found), and prints the figures table.  About ten minutes per
  interpreter on two cores.  Then the exit race on every interpreter,
  --exit-races runs each (3,000; half idle, half with every core busy):
  the target ends, in each way it can, while pyfault-attach,
  pyfault-record (a quarter as many) and pyfault-watch dump it (see
  tests/functional/exit_race.py); about 15 minutes.

Run:  bench/stress_bench.py [--cycles 10000] [--seed N] [--only SUBSTRING]
                            [--all-interpreters] [--exit-races N]
                            [--attach src/pyfault-attach]
                            [--watch src/pyfault-watch]
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.join(HERE, "..", "tests", "functional", "test_stress.py")
ATTACH_TEST = os.path.join(HERE, "..", "tests", "functional",
                           "test_attach.py")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attach", default=os.path.join(HERE, "..", "src",
                                                     "pyfault-attach"))
    ap.add_argument("--watch", default=os.path.join(HERE, "..", "src",
                                                    "pyfault-watch"))
    ap.add_argument("--cycles", type=int, default=10000)
    ap.add_argument("--interrupts", type=int, default=2000)
    ap.add_argument("--watch-kills", type=int, default=200)
    ap.add_argument("--forks", type=int, default=10000)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--all-interpreters", action="store_true")
    ap.add_argument("--exit-races", type=int, default=3000)
    args = ap.parse_args()
    for binary in (args.attach, args.watch):
        if not os.access(binary, os.X_OK):
            raise SystemExit("%s not found; build it with "
                             "`./configure && make`" % binary)
    cmd = [sys.executable, TEST, "--attach", args.attach, "--watch",
           args.watch, "--inject-stride", "1",
           "--watch-inject-stride", "1",
           "--cycles", str(args.cycles), "--interrupts",
           str(args.interrupts), "--watch-kills", str(args.watch_kills),
           "--forks", str(args.forks), "--watch-races", str(args.exit_races)]
    if args.all_interpreters:
        cmd.append("--all-interpreters")
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    for only in args.only:
        cmd += ["--only", only]
    status = subprocess.call(cmd)
    races = [sys.executable, ATTACH_TEST, "--attach", args.attach,
             "--race-iterations", str(args.exit_races)]
    for only in args.only or ["exits-while"]:
        races += ["--only", only]
    return subprocess.call(races) or status


if __name__ == "__main__":
    sys.exit(main())
