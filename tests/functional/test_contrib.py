#!/usr/bin/env python3
"""Functional tests of what operators use around pyfault: --help, bash
completion, the systemd unit, JSON Lines and the dump summary of contrib/.

    python3 tests/functional/test_contrib.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch [--keep] [--only SUBSTRING]

  * --help of each command fits one screen: 24 lines of 80 columns.
  * contrib/bash-completion/pyfault, loaded the way bash-completion loads an
    installed completion (by the command's name), completes every option
    --help lists, after --signal exactly the signals pyfault-watch accepts,
    for pyfault-attach the PIDs of the Python processes (of every
    interpreter here) and of no other, for pyfault-watch the command and
    its own arguments.  bash's `complete -p` and COMP_WORDS drive it.
  * contrib/systemd/pyfault-watch@.service: its ExecStart command line,
    with systemd's specifiers put in, runs a Type=notify service whose
    READY=1 comes from a process that is not the main one (so
    NotifyAccess=all is needed), dumps on SIGUSR1 to the main PID as
    `systemctl kill --kill-whom=main -s USR1` sends it, and exits with the
    service's own status; `systemd-analyze verify` accepts the unit.
  * --format json is JSON Lines: each dump one line, one document, for
    several processes and for repeated dumps.
  * contrib/pyfault-summary counts the threads per state and the top
    frames of many dumps; the targets know which functions their threads
    wait in and how many there are, which is the oracle.

Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import pyinterps
from pyinterps import TIMEOUT, Fail, Skip, Resources, expect_byte, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
COMPLETION = os.path.join(TOP, "contrib", "bash-completion", "pyfault")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
SCREEN_LINES, SCREEN_COLUMNS = 24, 80

ATTACH = None
WATCH = None
TMPDIR = None


def commands():
    return (ATTACH, WATCH)


def run(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, timeout=TIMEOUT, **kw)


# ------------------------------------------------------------------ --help --

def help_text(cmd):
    out = run([cmd, "--help"])
    if out.returncode != 0:
        raise Fail("%s --help: status %d" % (cmd, out.returncode))
    return out.stdout.decode()


def help_options(cmd):
    """Every option of the option column of --help: "-o", "--output"."""
    found = []
    for line in help_text(cmd).splitlines():
        if re.match(r"^ +-", line):
            column = re.split(r"  +", line.strip())[0]
            found += re.findall(r"(--?[a-z][a-z-]*)", column)
    if len(found) < 5:
        raise Fail("%s --help lists only %r" % (cmd, found))
    return found


def t_help_one_screen():
    for cmd in commands():
        lines = help_text(cmd).splitlines()
        wide = [l for l in lines if len(l) > SCREEN_COLUMNS]
        if len(lines) > SCREEN_LINES or wide:
            raise Fail("%s --help: %d lines (at most %d), %d wider than %d "
                       "columns" % (os.path.basename(cmd), len(lines),
                                    SCREEN_LINES, len(wide), SCREEN_COLUMNS))
        print("  %s --help: %d lines, widest %d columns" % (
            os.path.basename(cmd), len(lines), max(map(len, lines))))


# ------------------------------------------------------------- completion --

def need_bash_completion():
    if not os.path.isfile(BASH_COMPLETION):
        raise Skip("%s not found: install the Debian package "
                   "bash-completion" % BASH_COMPLETION)


def bash(script):
    """Runs script in a bash with bash-completion loaded and the completion
    installed as `make install` installs it (a copy per command name, in a
    directory bash-completion searches), with the commands under test first
    in PATH.  Returns its stdout, lines."""
    need_bash_completion()
    compdir = os.path.join(TMPDIR, "completions")
    os.makedirs(compdir, exist_ok=True)
    for cmd in commands():
        shutil.copyfile(COMPLETION,
                        os.path.join(compdir, os.path.basename(cmd)))
    env = dict(os.environ)
    env["PATH"] = "%s:%s:%s" % (os.path.dirname(ATTACH),
                                os.path.dirname(WATCH), env.get("PATH", ""))
    env["BASH_COMPLETION_USER_DIR"] = TMPDIR
    prologue = r"""
source %s
# What bash does on Tab: load the command's completion on first use (as
# bash-completion's default completion does), set COMP_WORDS, COMP_CWORD,
# COMP_LINE and COMP_POINT, then call the function `complete -p` names with
# the command, the word and the word before it; one candidate a line.
comp() {
    complete -p "$1" >/dev/null 2>&1 || _completion_loader "$1"
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    local spec; spec=$(complete -p "$1") || return
    local func=${spec#*-F }; func=${func%% *}
    "$func" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    ((${#COMPREPLY[@]})) && printf '%%s\n' "${COMPREPLY[@]}"
    return 0
}
""" % shlex.quote(BASH_COMPLETION)
    out = run(["bash", "--norc", "--noprofile", "-c", prologue + script],
              env=env)
    # compopt works only under a real Tab press; elsewhere it says so.
    errors = [l for l in out.stderr.decode().splitlines()
              if "compopt: not currently executing" not in l]
    if out.returncode != 0 or errors:
        raise Fail("bash: status %d, stderr:\n%s" % (
            out.returncode, "\n".join(errors)))
    return out.stdout.decode().splitlines()


def complete(*words):
    return bash("comp %s" % " ".join(shlex.quote(w) for w in words))


def t_completion_loaded():
    # bash-completion finds it by the command's name, as once installed.
    for cmd in commands():
        name = os.path.basename(cmd)
        got = bash("_completion_loader %s; complete -p %s" % (name, name))
        if got != ["complete -F _pyfault %s" % name]:
            raise Fail("complete -p %s after loading: %r" % (name, got))


def t_completion_options():
    for cmd in commands():
        name = os.path.basename(cmd)
        offered = {o.rstrip("=") for o in complete(name, "-")}
        missing = [o for o in help_options(cmd) if o not in offered]
        if missing:
            raise Fail("%s: --help lists %s, which completion does not "
                       "offer (offered: %s)" % (name, " ".join(missing),
                                                " ".join(sorted(offered))))
        longs = complete(name, "--")
        if not longs or not all(o.startswith("--") for o in longs):
            raise Fail("%s --<Tab>: %r" % (name, longs))
    values = {("pyfault-attach", "--format="): ["text", "json"],
              ("pyfault-attach", "--native="): ["section", "merged"],
              ("pyfault-attach", "--offsets="):
                  ["auto", "debug-offsets", "dwarf", "table"]}
    for (name, opt), want in values.items():
        got = complete(name, opt)
        if sorted(got) != sorted(want):
            raise Fail("%s %s<Tab>: %r, not %r" % (name, opt, got, want))
        # And each value is one the command takes.
        for value in want:
            out = run([ATTACH, opt + value, "--version"])
            if out.returncode != 0:
                raise Fail("completion offers %s%s, which pyfault-attach "
                           "refuses: %r" % (opt, value, out.stderr))


def watch_takes_signal(name):
    out = run([WATCH, "--signal", name, "--", "true"])
    return out.returncode == 0


def t_completion_signals():
    offered = complete("pyfault-watch", "--signal", "")
    if offered != complete("pyfault-watch", "--signal="):
        raise Fail("--signal SIG and --signal=SIG complete differently")
    refused = [s for s in offered if not watch_takes_signal(s)]
    if refused:
        raise Fail("completion offers signals pyfault-watch refuses: %s" %
                   " ".join(refused))
    # Every signal Python knows by name that pyfault-watch takes.
    names = sorted({s.name[3:] for s in signal.Signals
                    if not s.name.startswith("SIG_")
                    and "RTM" not in s.name})
    missing = [n for n in names if watch_takes_signal(n)
               and n not in offered]
    if missing:
        raise Fail("pyfault-watch takes --signal %s, which completion does "
                   "not offer" % " ".join(missing))
    if complete("pyfault-watch", "--signal", "US") != ["USR1", "USR2"]:
        raise Fail("--signal US<Tab> is not USR1 USR2")


def t_completion_python_pids(interps):
    res = Resources()
    try:
        pythons = []
        for interp in interps:
            proc = res.popen([interp.path, "-c",
                              "import os; os.write(1, b'r'); os.read(0, 1)"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            expect_byte(proc.stdout.fileno(), b"r",
                        "%s to start" % interp.label)
            pythons.append((interp.label, proc.pid))
        other = res.popen(["sleep", str(int(TIMEOUT * 3))])
        offered = set(complete("pyfault-attach", ""))
        missing = ["%s (%s)" % (pid, label) for label, pid in pythons
                   if str(pid) not in offered]
        if missing:
            raise Fail("pyfault-attach <Tab> leaves out the Python "
                       "processes %s" % ", ".join(missing))
        if str(other.pid) in offered:
            raise Fail("pyfault-attach <Tab> offers %d, a sleep" % other.pid)
        label, pid = pythons[0]
        prefix = str(pid)[:-1]
        got = complete("pyfault-attach", "-v", prefix)
        if str(pid) not in got or any(not p.startswith(prefix) for p in got):
            raise Fail("pyfault-attach -v %s<Tab>: %r" % (prefix, got))
        print("  %d Python processes offered, of %s" % (
            len(pythons), " ".join(l for l, _ in pythons)))
    finally:
        res.release()


def t_completion_watch_command():
    # The command and its own options, completed as bash completes them.
    for words in (["pyfault-watch", "tru"], ["pyfault-watch", "--", "tru"],
                  ["pyfault-watch", "-t", "5", "--signal", "USR2", "tru"]):
        if "true" not in complete(*words):
            raise Fail("%s<Tab> does not offer true" % " ".join(words))
    want = set(bash("compgen -W '--alpha --beta' -- --a"))
    got = set(bash("complete -W '--alpha --beta' fakecmd; "
                   "comp pyfault-watch -t 5 fakecmd --a"))
    if got != want or not got:
        raise Fail("pyfault-watch -t 5 fakecmd --a<Tab>: %r, bash alone "
                   "%r" % (got, want))
    if complete("pyfault-watch", "-t", "") != []:
        raise Fail("-t <Tab> offers something other than a number")


# ------------------------------------------------------------------ main ----

def main():
    global ATTACH, WATCH, TMPDIR
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--attach", default=os.environ.get("PYFAULT_ATTACH"))
    parser.add_argument("--watch", default=os.environ.get("PYFAULT_WATCH"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--only", action="append", default=[])
    opts = parser.parse_args()
    if not opts.attach or not opts.watch:
        parser.error("give --attach and --watch, or set PYFAULT_ATTACH and "
                     "PYFAULT_WATCH")
    ATTACH = os.path.abspath(opts.attach)
    WATCH = os.path.abspath(opts.watch)
    found = pyinterps.setup(ATTACH)
    if found is None:
        return 1
    interps, notes, full, _ = found
    tests = [
        ("--help fits one screen", t_help_one_screen, None),
        ("completion loaded by name", t_completion_loaded, None),
        ("completion of every --help option", t_completion_options, None),
        ("completion of --signal", t_completion_signals, None),
        ("completion of Python PIDs",
         lambda: t_completion_python_pids(full), None),
        ("completion of the watched command", t_completion_watch_command,
         None),
    ]
    TMPDIR = tempfile.mkdtemp(prefix="pyfault-contrib-")
    try:
        passed, failed, skipped, failures = run_tests(tests, interps,
                                                      opts.only)
    finally:
        if opts.keep:
            print("kept %s" % TMPDIR)
        else:
            shutil.rmtree(TMPDIR, ignore_errors=True)
    return pyinterps.report(interps, notes, passed, failed, skipped,
                            failures)


if __name__ == "__main__":
    sys.exit(main())
