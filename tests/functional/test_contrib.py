#!/usr/bin/env python3
"""Functional tests of what operators use around pyfault: --help, bash
completion, the systemd unit, JSON Lines and the dump summary of contrib/.

    python3 tests/functional/test_contrib.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch [--core src/pyfault-core] [--keep]
        [--only SUBSTRING]

  * --help of each command fits one screen: 24 lines of 80 columns.
  * contrib/bash-completion/pyfault, loaded the way bash-completion loads an
    installed completion (by the command's name), completes every option
    --help lists, after --signal exactly the signals pyfault-watch accepts,
    for pyfault-attach the PIDs of the Python processes (of every
    interpreter here) and of no other, for pyfault-watch the command and
    its own arguments, for pyfault-core files (and a directory after
    --sysroot).  bash's `complete -p` and COMP_WORDS drive it.
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
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import time

import pyinterps
from pyinterps import TIMEOUT, Fail, Skip, Resources, expect_byte

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
COMPLETION = os.path.join(TOP, "contrib", "bash-completion", "pyfault")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
SCREEN_LINES, SCREEN_COLUMNS = 24, 80

ATTACH = None
WATCH = None
CORE = None
TMPDIR = None


def commands():
    return (ATTACH, WATCH) + ((CORE,) if CORE else ())


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
    env["PATH"] = ":".join([os.path.dirname(c) for c in commands()] +
                           [env.get("PATH", "")])
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


def t_completion_core_files():
    """pyfault-core's operands are files (a core, an executable), the
    argument of --sysroot a directory."""
    if CORE is None:
        raise Skip("no pyfault-core given (--core or $PYFAULT_CORE)")
    where = os.path.join(TMPDIR, "cores")
    os.makedirs(os.path.join(where, "root"), exist_ok=True)
    open(os.path.join(where, "core.python3.1234.zst"), "w").close()
    got = complete("pyfault-core", os.path.join(where, "core."))
    if got != [os.path.join(where, "core.python3.1234.zst")]:
        raise Fail("pyfault-core CORE<Tab>: %r" % got)
    got = complete("pyfault-core", "--sysroot", os.path.join(where, "r"))
    if got != [os.path.join(where, "root")]:
        raise Fail("pyfault-core --sysroot DIR<Tab>: %r" % got)


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
    # Every signal Python knows by name, aliases (IO and POLL) included,
    # that pyfault-watch takes.
    names = sorted({name[3:] for name in signal.Signals.__members__
                    if not name.startswith("SIG_") and "RTM" not in name})
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


# ---------------------------------------------------------------- systemd --

UNIT = os.path.join(TOP, "contrib", "systemd", "example-app.service")
UNIT_WATCH = "/usr/bin/pyfault-watch"
UNIT_PYTHON = "/usr/bin/python3"
UNIT_APP = "/opt/example-app/server.py"

# A Type=notify service: READY=1 from its own pid, then it waits in
# serve_forever(); faulthandler dumps it on SIGUSR2 (the oracle of
# pyfault-watch's dump on SIGUSR1); SIGTERM ends it with status 3.
SERVICE = r"""
import faulthandler, os, signal, socket, sys

def on_term(signo, frame):
    sys.exit(3)

def notify(message):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(message.encode(), os.environ["NOTIFY_SOCKET"])
    sock.close()

def serve_forever():
    notify("READY=1\nSTATUS=serving as pid %d" % os.getpid())
    while True:
        signal.pause()

faulthandler.register(signal.SIGUSR2, all_threads=True)
signal.signal(signal.SIGTERM, on_term)
serve_forever()
"""


def unit_service_section():
    section, found = None, {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and \
                    not line.startswith("#"):
                key, value = line.split("=", 1)
                found[key] = value
    return found


def read_until(proc, buf, pattern, what):
    """Reads proc's stderr into buf (a bytearray) until pattern matches
    it; bounded by TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    fd = proc.stderr.fileno()
    while not re.search(pattern, bytes(buf)):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0, remaining))
        chunk = os.read(fd, 65536) if ready else None
        if not chunk:
            raise Fail("%s: %s; stderr so far:\n%s" % (
                what, "output ended" if ready else "timeout",
                bytes(buf).decode(errors="replace")))
        buf += chunk


def t_systemd_unit():
    unit = unit_service_section()
    want = {"Type": "notify", "NotifyAccess": "all", "KillMode": "mixed",
            "Restart": "on-failure"}
    wrong = {k: unit.get(k) for k, v in want.items() if unit.get(k) != v}
    if wrong:
        raise Fail("%s: [Service] has %r, not %r" % (UNIT, wrong, want))
    argv = shlex.split(unit["ExecStart"])
    if argv[0] != UNIT_WATCH or argv[-2:] != [UNIT_PYTHON, UNIT_APP]:
        raise Fail("ExecStart is not %s ... -- %s %s: %r" % (
            UNIT_WATCH, UNIT_PYTHON, UNIT_APP, argv))
    if not os.access(UNIT_PYTHON, os.X_OK):
        raise Skip("%s, which the unit runs, is not here" % UNIT_PYTHON)
    app = os.path.join(TMPDIR, "server.py")
    with open(app, "w") as f:
        f.write(SERVICE)
    argv = [WATCH] + argv[1:-1] + [app]
    # systemd's notification socket, which tells who sent each message.
    sock_path = os.path.join(TMPDIR, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    res = Resources()
    try:
        sock.bind(sock_path)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        proc = res.popen(argv, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        ready, _, _ = select.select([sock], [], [], TIMEOUT)
        if not ready:
            raise Fail("no READY=1 on NOTIFY_SOCKET in %d s" % TIMEOUT)
        msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        creds = [struct.unpack("3i", data[:12]) for level, kind, data in anc
                 if level == socket.SOL_SOCKET
                 and kind == socket.SCM_CREDENTIALS]
        served = re.search(rb"STATUS=serving as pid (\d+)", msg)
        if not msg.startswith(b"READY=1") or not creds or not served:
            raise Fail("notification %r, credentials %r" % (msg, creds))
        sender = creds[0][0]
        if sender != int(served.group(1)) or sender == proc.pid:
            raise Fail("READY=1 came from pid %d; the program is %s, the "
                       "main process (pyfault-watch) %d" % (
                           sender, served.group(1).decode(), proc.pid))
        # systemctl kill --kill-whom=main -s USR1: the dump, to the
        # journal (stderr); then the program's own faulthandler.
        wait_sleeping(sender)
        end = rb'File "%s", line \d+ in <module>\n' % re.escape(app.encode())
        stderr = bytearray()
        os.kill(proc.pid, signal.SIGUSR1)
        read_until(proc, stderr, end, "the dump on SIGUSR1")
        ours = bytes(stderr)
        os.kill(proc.pid, signal.SIGUSR2)     # passed on to the program
        read_until(proc, stderr, end + rb"(.|\n)*" + end,
                   "faulthandler's dump on SIGUSR2")
        theirs = bytes(stderr)[len(ours):]
        # The dumps differ in nothing but faulthandler's "Current": its
        # handler runs in the thread it marks so; no thread holds the GIL
        # at pyfault's.
        pyinterps.check_same(theirs.replace(b"Current thread", b"Thread"),
                             ours, "dump to the journal on SIGUSR1")
        print("  READY=1 from pid %d (pyfault-watch is %d); a %d-byte dump "
              "on SIGUSR1, faulthandler's" % (sender, proc.pid, len(ours)))
        # systemctl stop: SIGTERM to the main process alone (KillMode=mixed).
        os.kill(proc.pid, signal.SIGTERM)
        status = proc.wait(timeout=TIMEOUT)
        if status != 3:
            raise Fail("the service exits 3 on SIGTERM; under the unit's "
                       "command line, status %d" % status)
    finally:
        sock.close()
        res.release()


def wait_sleeping(pid):
    """Polls /proc until every thread of pid sleeps in the kernel, so that
    no thread holds the GIL: no primitive tells when the program has gone
    from sending READY=1 into pause()."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        states = pyinterps.task_states(pid)
        if states and all(s == "S" for s, _ in states.values()):
            return
        if time.monotonic() > deadline:
            raise Fail("threads of %d never all slept: %r" % (pid, states))
        time.sleep(0.001)


def t_systemd_verify():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        raise Skip("systemd-analyze not found (Debian package systemd)")
    # Its checks need the commands and the man page the unit names.
    copy = os.path.join(TMPDIR, "example-app.service")
    app = os.path.join(TMPDIR, "verify-app.py")
    open(app, "w").close()
    with open(UNIT) as f:
        text = f.read().replace(UNIT_WATCH, WATCH).replace(UNIT_APP, app)
    with open(copy, "w") as f:
        f.write(text)
    mandir = os.path.join(TMPDIR, "man", "man1")
    os.makedirs(mandir, exist_ok=True)
    for page in ("pyfault-attach.1", "pyfault-watch.1"):
        shutil.copyfile(os.path.join(TOP, "man", page),
                        os.path.join(mandir, page))
    out = run([analyze, "verify", copy],
              env=dict(os.environ, MANPATH=os.path.dirname(mandir)))
    if out.returncode != 0 or out.stderr or out.stdout:
        raise Fail("systemd-analyze verify: status %d:\n%s%s" % (
            out.returncode, out.stdout.decode(), out.stderr.decode()))


# ------------------------------------------------------ JSON Lines, summary --

OPERATIONS = os.path.join(TOP, "doc", "operations.md")
SUMMARY = os.path.join(TOP, "contrib", "pyfault-summary")
READERS, WAITERS = 3, 2
SYS_READ, SYS_FUTEX = 0, 202      # x86_64

# Threads whose place the test knows: READERS in wait_for_input() reading a
# pipe, WAITERS in threading's Event.wait(), the main thread in serve()
# reading stdin.  Python 2.7 and 3.
FLEET_TARGET = r"""
import os, sys, threading
HOST = sys.argv[1]
r, w = os.pipe()

def wait_for_input():
    os.read(r, 1)

def serve():
    os.write(1, b"r")
    os.read(0, 1)

for n in range(%d):
    t = threading.Thread(target=wait_for_input)
    t.daemon = True
    t.start()
event = threading.Event()
for n in range(%d):
    t = threading.Thread(target=event.wait)
    t.daemon = True
    t.start()
serve()
""" % (READERS, WAITERS)


def syscalls(pid):
    """The system call number each thread of pid is in, as the kernel
    says (/proc/PID/task/TID/syscall)."""
    found = []
    for tid in pyinterps.task_states(pid):
        try:
            with open("/proc/%d/task/%d/syscall" % (pid, tid)) as f:
                first = f.read().split()[0]
        except (OSError, IndexError):
            first = "?"
        found.append(int(first) if first.isdigit() else -1)
    return sorted(found)


def collect_command():
    """The host command of doc/operations.md's Ansible example."""
    with open(OPERATIONS) as f:
        for line in f:
            m = re.search(r"-m shell -a '([^']*)'", line)
            if m:
                return m.group(1)
    raise Fail("%s has no Ansible `-m shell -a '...'` line" % OPERATIONS)


def t_fleet_summary(interps):
    """Two "hosts", each with a target per interpreter, collected with the
    documented command; then pyfault-summary over both."""
    command = collect_command()
    script = os.path.join(TMPDIR, "fleet_target.py")
    with open(script, "w") as f:
        f.write(FLEET_TARGET)
    res = Resources()
    try:
        hosts = {"hostA": [], "hostB": []}
        for n, interp in enumerate(interps):
            host = "hostA" if n % 2 == 0 else "hostB"
            proc = res.popen([interp.path, script, host],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            expect_byte(proc.stdout.fileno(), b"r", interp.label)
            hosts[host].append(proc.pid)
        want = sorted([SYS_READ] * (READERS + 1) + [SYS_FUTEX] * WAITERS)
        deadline = time.monotonic() + TIMEOUT
        for pid in hosts["hostA"] + hosts["hostB"]:
            while syscalls(pid) != want:
                if time.monotonic() > deadline:
                    raise Fail("the threads of %d are in system calls %r, "
                               "not %r" % (pid, syscalls(pid), want))
                time.sleep(0.001)
        files = []
        for host, pids in hosts.items():
            os.makedirs(os.path.join(TMPDIR, host), exist_ok=True)
            # What `ansible HOST -m fetch` brings back from each host.
            path = os.path.join(TMPDIR, host, "pyfault.jsonl")
            shell = command.replace("pyfault-attach", shlex.quote(ATTACH))
            shell = re.sub(r"pgrep -f \S+", "pgrep -f '%s %s'" % (
                re.escape(script), host), shell)
            shell = re.sub(r"-o \S+", "-o " + shlex.quote(path), shell)
            out = run(["sh", "-c", shell])
            if out.returncode != 0:
                raise Fail("%s: status %d, %s" % (shell, out.returncode,
                                                  out.stderr))
            check_json_lines(path, sorted(pids))
            files.append(path)
        out = run([sys.executable, SUMMARY, "--top", "100"] + files)
        if out.returncode != 0:
            raise Fail("pyfault-summary: status %d, %s" % (out.returncode,
                                                           out.stderr))
        check_summary(out.stdout.decode(), script, len(interps),
                      len({i.vstr for i in interps}))
    finally:
        res.release()


def check_json_lines(path, pids):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines[-1] != b"" or len(lines) - 1 != len(pids):
        raise Fail("%s: %d lines ending with a newline expected, one per "
                   "process: %r" % (path, len(pids), data[:300]))
    got = []
    for line in lines[:-1]:
        doc = json.loads(line.decode())
        got.append(doc["process"]["pid"])
    if sorted(got) != pids:
        raise Fail("%s: documents of %r, not %r" % (path, got, pids))


def check_summary(text, script, processes, versions):
    first = "%d dumps of %d processes in 2 files, %d Python versions, " \
            "%d threads" % (processes, processes, versions,
                            processes * (READERS + WAITERS + 1))
    counts = {}
    for line in text.splitlines():
        m = re.match(r"^ +(\d+)  (.*?)(  in (\d+) files)?$", line)
        if m:
            counts.setdefault(m.group(2), []).append(
                (int(m.group(1)), m.group(4)))
    src = FLEET_TARGET.splitlines()

    def where(name, code):
        line = next(n for n, l in enumerate(src, 1) if l.strip() == code)
        return "%s (%s:%d)" % (name, script, line)

    expected = {
        "syscall read": [(processes * (READERS + 1), None)],
        "syscall futex": [(processes * WAITERS, None)],
        where("wait_for_input", "os.read(r, 1)"):
            [(processes * READERS, "2")],
        where("serve", "os.read(0, 1)"): [(processes, "2")],
        where("<module>", "serve()"): [(processes, "2")],
    }
    wrong = {k: counts.get(k) for k, v in expected.items()
             if counts.get(k) != v}
    waits = sum(c for k, v in counts.items() for c, _ in v
                if k.startswith("wait (") and "threading.py" in k)
    if not text.startswith(first + "\n") or wrong or \
            waits != processes * WAITERS:
        raise Fail("pyfault-summary printed:\n%s\nexpected a first line %r, "
                   "%r, and %d threads in threading's wait; differs: %r" % (
                       text, first, expected, processes * WAITERS, wrong))


def t_watch_json_lines(interp):
    """pyfault-watch --format json: one document a line for every dump, by
    timeout (--repeat) and on request, each parsed on its own."""
    res = Resources()
    try:
        out = os.path.join(TMPDIR, "watch-%s.jsonl" % interp.label)
        proc = res.popen([WATCH, "--format", "json", "-o", out, "-t", "0.05",
                          "--repeat", "--", interp.path, "-c",
                          "import os; os.write(1, b'r'); os.read(0, 1)"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        expect_byte(proc.stdout.fileno(), b"r", interp.label)
        wait_lines(out, 3)
        os.kill(proc.pid, signal.SIGUSR1)
        wait_lines(out, 1, kind="request")
        proc.stdin.close()
        if proc.wait(timeout=TIMEOUT) != 0:
            raise Fail("pyfault-watch: status %d" % proc.returncode)
        kinds = {d["reason"]["kind"] for d in wait_lines(out, 0)}
        if kinds != {"timeout", "request"}:
            raise Fail("dumps of kinds %r: timeouts and a request "
                       "expected" % kinds)
    finally:
        res.release()


def wait_lines(path, count, kind=None):
    """The documents of path once it has count complete lines (of that
    reason kind, if given; 0: as it is); each line must be one JSON
    document."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        lines = data.split(b"\n")[:-1]
        docs = []
        for n, line in enumerate(lines, 1):
            try:
                docs.append(json.loads(line.decode()))
            except ValueError as exc:
                raise Fail("%s line %d is not a JSON document (%s): %r" % (
                    path, n, exc, line[:200]))
        if len([d for d in docs
                if kind is None or d["reason"]["kind"] == kind]) >= count:
            return docs
        if time.monotonic() > deadline:
            raise Fail("%s: %d lines after %d s, %d%s expected" % (
                path, len(lines), TIMEOUT, count,
                " of kind " + kind if kind else ""))
        time.sleep(0.01)


# ------------------------------------------------------------- Kubernetes --

def t_containerfile():
    """The image of `kubectl debug` builds from the tree and its
    pyfault-attach runs: where a container engine runs."""
    engine = None
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path and run([path, "info"]).returncode == 0:
            engine = path
            break
    if engine is None:
        raise Skip("no container engine running (podman or docker info "
                   "fails): the image is not built")
    tag = "pyfault-test-%d" % os.getpid()
    try:
        # The context as doc/operations.md builds it: the tree's own files
        # (a checkout's, committed or not, or a tarball's), no build output.
        listed = subprocess.run(
            ["git", "-C", TOP, "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, timeout=TIMEOUT)
        files = [f for f in listed.stdout.decode().split("\0")
                 if f and os.path.exists(os.path.join(TOP, f))]
        context = os.path.join(TMPDIR, "context.tar")
        with tarfile.open(context, "w") as tar:
            for name in files if listed.returncode == 0 else ["."]:
                tar.add(os.path.join(TOP, name), arcname=name)
        with open(context, "rb") as stdin:
            build = subprocess.run(
                [engine, "build", "-f", "contrib/Containerfile", "-t", tag,
                 "-"], stdin=stdin, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=1800)
        if build.returncode != 0:
            raise Fail("%s build: status %d:\n%s" % (
                engine, build.returncode, build.stdout.decode()[-3000:]))
        out = run([engine, "run", "--rm", tag, "pyfault-attach",
                   "--version"])
        if out.returncode != 0 or not out.stdout.startswith(
                b"pyfault-attach "):
            raise Fail("pyfault-attach --version in the image: status %d, "
                       "%r %r" % (out.returncode, out.stdout, out.stderr))
    finally:
        run([engine, "rmi", "-f", tag])


# ------------------------------------------------------------------ main ----

def make_tests(suite):
    global ATTACH, WATCH, CORE, TMPDIR
    ATTACH, WATCH, CORE = suite.attach, suite.watch, suite.core
    TMPDIR = suite.tmpdir
    full = suite.full
    return [
        ("--help fits one screen", t_help_one_screen, None),
        ("completion loaded by name", t_completion_loaded, None),
        ("completion of pyfault-core's files", t_completion_core_files,
         None),
        ("completion of every --help option", t_completion_options, None),
        ("completion of --signal", t_completion_signals, None),
        ("completion of Python PIDs",
         lambda: t_completion_python_pids(full), None),
        ("completion of the watched command", t_completion_watch_command,
         None),
        ("systemd unit's command line", t_systemd_unit, None),
        ("systemd-analyze verify", t_systemd_verify, None),
        ("Containerfile of kubectl debug", t_containerfile, None),
        ("fleet: JSON Lines and pyfault-summary",
         lambda: t_fleet_summary(full), None),
    ] + pyinterps.per_interp(full, [("pyfault-watch JSON Lines",
                                     t_watch_json_lines)])


def main():
    return pyinterps.suite_main(__doc__, "pyfault-contrib-", make_tests,
                                optional=("core",))


if __name__ == "__main__":
    sys.exit(main())
