#!/usr/bin/env python3
"""Functional tests of pyfault-attach --tasks (asyncio tasks) against every
CPython 3.11+ on this machine.

    python3 tests/functional/test_tasks.py --attach src/pyfault-attach \\
        --watch src/pyfault-watch [--keep] [--only SUBSTRING]

tests/functional/tasks_target.py parks tasks in one scenario and writes
what the interpreter says of them (asyncio.all_tasks() per loop, each
task's chain through cr_await / gi_yieldfrom with f_lineno, the object the
chain ends at, 3.14's _asyncio_awaited_by) to a file, then a byte on a
pipe.  The driver then attaches and checks, per scenario:
  * --tasks --format json: the document follows the schema; the same
    tasks (ids), names, loops and threads, every frame (file, name, line,
    most recent first), the object awaited, awaited_by and its inverse
    awaiting, and the deadlock cycles that the oracle's graph has;
  * --tasks: faulthandler's text unchanged (the dump without --tasks),
    then the section, each task's block with its frames as in the JSON;
  * --tasks=tree: every task drawn once;
  * on 3.14+: `python -m asyncio ps PID`, CPython's own remote reader,
    lists the same tasks, names and awaiters (scenarios without cycles,
    which its table rejects); and asyncio.capture_call_graph, run in the
    target for each task, gives the same awaiters and the outermost
    frames (its stack stops at the first awaitable that is no coroutine;
    it recurses for ever on a cycle, so deadlocked tasks are left out).
--current-thread-only --tasks: the tasks of the busy scenario's current
thread (the loop thread that runs Python code), as the full dump has them,
after that thread's stack; none on a free-threaded build (no GIL holder).
pyfault-watch --tasks: the fatal-error dump of a program that ends by
SIGSEGV once its tasks are parked holds the same tasks (JSON; and with
--current-thread-only, its one thread being the faulting one), and its
text has the section after faulthandler's; so does the dump SIGUSR1 asks
of a parked program, which goes on.
Every scenario runs on each 3.11+ interpreter (eager tasks from 3.12),
and five of them again without the _asyncio accelerator (pure-Python
tasks; on 3.14+ also with --offsets=debug-offsets, which gives no
section for want of DWARF).  Before 3.14 the oracle's awaited_by is derived
from each task's _fut_waiter (a task, or a gather's _children), which is
all those versions keep, and from the TaskGroup whose __aexit__ a
parent task is in (its _tasks).
Stripped builds (3.11-3.13 release builds): --offsets=table gives the
same tasks from the shipped rows; a copy of _asyncio without its DWARF,
imported by the target, gets TaskObj from the shipped row (-v says so),
and with --offsets=dwarf one note line instead.
The offset cache: a second --tasks takes the offsets that came from
DWARF (TaskObj, asend, athrow, FutureIter) from the cache, as -v says,
and prints the same; corrupt or torn entries are ignored and rewritten.
Bad input: a process without asyncio gets no section (and a -v note); an
await chain longer than faulthandler's 100 frames keeps the 100 innermost
and says it was cut.

Stdlib only; Python 3.8+.  The last line of output is
"N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import json_check
import pyinterps
from pyinterps import (TIMEOUT, Fail, Resources, Skip, expect_byte,
                       start_cpu_load)

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "tasks_target.py")
SCENARIOS = ["gather", "taskgroup", "awaits_task", "primitives",
             "asyncgen", "eager", "threads", "deadlock", "many", "deep"]
# The same without the _asyncio accelerator: pure-Python tasks.
SCENARIOS += ["gather-py", "taskgroup-py", "awaits_task-py", "deadlock-py",
              "threads-py"]
# CPython's own reader rejects cycles, and lists the tasks of only one of
# two threads' loops (3.14.7); the others it lists.
PS_SCENARIOS = {"gather", "taskgroup", "awaits_task", "primitives", "eager",
                "asyncgen"}
ORACLE_TASK = "oracle"
# x86_64 system calls an idle event loop sleeps in (its selector's).
SELECTOR_CALLS = {"232", "281", "441", "23", "270", "7", "271"}
FUTEX = "202"
ATTACH = WATCH = CORE = TMPDIR = None


def scenario_skip(interp, scenario):
    """Why scenario cannot run on interp, or None."""
    if scenario == "eager" and interp.version[:2] < (3, 12):
        return "eager tasks exist from 3.12 on"
    return None


def oracle_tasks(loops, follow):
    """The oracle's tasks by id; follow=False: each with the chain that
    stops at asend, athrow and FutureIter, what a dump without their
    offsets (no DWARF for them) shows."""
    tasks = {t["id"]: t for loop in loops for t in loop["tasks"]}
    if not follow:
        for t in tasks.values():
            t.update(t["unfollowed"])
    return tasks


def child_of(pid):
    """The one child process of pid (a tracer's program)."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        children = f.read().split()
    if len(children) != 1:
        raise Fail("process %d has children %r, not one" % (pid, children))
    return int(children[0])


class Target:
    """tasks_target.py in one scenario, parked, with its oracle read;
    under the command prefix (pyfault-watch ... --) when given, whose
    standard error is then self.proc.stderr."""

    def __init__(self, res, interp, scenario, env=None, follow=True,
                 prefix=()):
        self.path = os.path.join(TMPDIR, "oracle-%s-%s.json" % (
            interp.label, scenario))
        log = os.path.join(TMPDIR, "target-%s-%s.log" % (interp.label,
                                                         scenario))
        rfd, wfd = res.pipe()
        with open(log, "wb") as logf:
            self.proc = res.popen(
                list(prefix) +
                [interp.path, TARGET, scenario, self.path, str(wfd)],
                stdout=logf, stderr=subprocess.PIPE if prefix else logf,
                pass_fds=(wfd,), env=env)
        res.close(wfd)
        expect_byte(rfd, b"r", "the %s scenario to park" % scenario, log)
        self.pid = child_of(self.proc.pid) if prefix else self.proc.pid
        self.scenario = scenario
        self.settle()
        with open(self.path) as f:
            self.loops = json.load(f)
        self.tasks = oracle_tasks(self.loops, follow)

    def settle(self):
        self._wait_loops_asleep(self.scenario)

    def _wait_loops_asleep(self, scenario):
        """The byte is written by a callback of the loop, which then goes
        back to its selector: the threads' stacks are those of the
        dump once every thread sleeps there (its system call, from
        /proc); in the busy scenario, every thread but the one that
        runs Python code for good, once it holds the GIL again (not in
        a futex wait: each attach wakes the sleeping threads, which take
        the GIL a moment)."""
        busy = 1 if scenario == "busy" else 0
        deadline = time.monotonic() + TIMEOUT
        while True:
            calls = []
            for tdir in glob.glob("/proc/%d/task/*" % self.pid):
                try:
                    with open(os.path.join(tdir, "syscall")) as f:
                        calls.append(f.read().split()[0])
                except (OSError, IndexError):
                    calls.append("?")
            running = [c for c in calls if c not in SELECTOR_CALLS]
            if calls and len(running) == busy and FUTEX not in running:
                return
            if time.monotonic() > deadline:
                raise Fail("the %s scenario's threads never all slept in "
                           "their selector: %r" % (scenario, calls))
            time.sleep(0.001)


def run(cmd, what, check=True, env=None):
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=TIMEOUT, env=env)
    if check and out.returncode != 0:
        raise Fail("%s: exit %d, stderr %r" % (what, out.returncode,
                                              out.stderr[-2000:]))
    return out


def oracle_cycles(tasks):
    """The ids of the tasks on a cycle of the awaits graph (a task awaits
    the ones whose awaited_by hold it)."""
    awaits = {i: [] for i in tasks}
    for i, t in tasks.items():
        for parent in t["awaited_by"]:
            if parent in awaits:
                awaits[parent].append(i)

    def reaches(start, goal):
        seen, todo = set(), list(awaits[start])
        while todo:
            n = todo.pop()
            if n == goal:
                return True
            if n not in seen:
                seen.add(n)
                todo.extend(awaits[n])
        return False
    return {i for i in tasks if reaches(i, i)}


def json_tasks(target, args=(), env=None):
    out = run([ATTACH, "--tasks", "--format", "json"] + list(args) +
              [str(target.pid)], "--tasks --format json", env=env)
    try:
        docs = json_check.documents(out.stdout, "pyfault-attach")
    except (ValueError, json_check.SchemaError) as exc:
        raise Fail("--tasks --format json: %s" % exc)
    if len(docs) != 1 or "tasks" not in docs[0]:
        raise Fail("expected one document with tasks: %r" % out.stdout[:500])
    return docs[0]


def check_json(target, doc, interp):
    oracle_ids = {t["id"] for t in doc["tasks"] if t["name"] == ORACLE_TASK}
    got = {t["id"]: t for t in doc["tasks"] if t["id"] not in oracle_ids}
    if set(got) != set(target.tasks) or doc["tasks_truncated"] or \
            doc["tasks_note"] is not None:
        raise Fail("tasks %s (note %r), the interpreter has %s" % (
            sorted(got), doc["tasks_note"], sorted(target.tasks)))
    loops = {(lp["thread_id"], lp["loop"]) for lp in doc["event_loops"]}
    want_loops = {(lp["thread_id"], lp["loop"]) for lp in target.loops}
    if loops != want_loops:
        raise Fail("event loops %s, the interpreter has %s" % (
            sorted(loops), sorted(want_loops)))
    cycles = oracle_cycles(target.tasks)
    for i, want in target.tasks.items():
        t = got[i]
        frames = [[f["file"], f["name"], f["line"]] for f in t["frames"]]
        expected = want["frames"][::-1]
        truncated = len(expected) > 100
        problems = []
        if t["name"] != want["name"]:
            problems.append("name %r, not %r" % (t["name"], want["name"]))
        if (t["thread_id"], t["loop"], t["state"]) != (
                want["thread_id"], want["loop"], "pending"):
            problems.append("thread, loop, state %r" % (
                (t["thread_id"], t["loop"], t["state"]),))
        if frames != expected[:100] or t["frames_truncated"] != truncated:
            problems.append("frames %r (truncated %r), not %r" % (
                frames, t["frames_truncated"], expected))
        awaited = t["awaits_object"]
        if want["awaits"] is not None and (
                awaited is None or
                awaited["address"] != want["awaits"][1] or
                not awaited["type"].endswith(want["awaits"][0])):
            problems.append("awaits %r, not %r" % (awaited, want["awaits"]))
        awaiting = sorted(j for j, o in target.tasks.items()
                          if i in o["awaited_by"])
        if sorted(t["awaited_by"]) != want["awaited_by"] or \
                sorted(t["awaiting"]) != awaiting:
            problems.append("awaited by %r and awaiting %r, not %r and %r"
                            % (t["awaited_by"], t["awaiting"],
                               want["awaited_by"], awaiting))
        graph = want.get("call_graph")
        if graph is not None and (
                sorted(t["awaited_by"]) != graph["awaited_by"] or
                not truncated and
                frames[::-1][:len(graph["frames"])] != graph["frames"]):
            problems.append("capture_call_graph says %r" % graph)
        if (t["deadlock_cycle"] is not None) != (i in cycles):
            problems.append("deadlock_cycle %r" % t["deadlock_cycle"])
        if problems:
            raise Fail("task %s %r: %s" % (i, want["name"],
                                           "; ".join(problems)))


def text_block(t):
    """A task's header and frames as --tasks writes them (names and paths
    of the targets are ASCII)."""
    where = "pending, loop %s, thread 0x%016x" % (t["loop"], t["thread_id"])
    lines = ['Task "%s" (id %s), %s (most recent call first):' % (
        t["name"], t["id"], where)]
    lines += ['  File "%s", line %d in %s' % (f["file"], f["line"],
                                              f["name"])
              for f in t["frames"]] or ["  <no Python frame>"]
    return ("\n".join(lines) + "\n").encode()


def check_text(target, doc, args=()):
    args = list(args)
    plain = run([ATTACH] + args + [str(target.pid)], "attach").stdout
    out = run([ATTACH, "--tasks"] + args + [str(target.pid)],
              "--tasks").stdout
    if not out.startswith(plain):
        raise Fail("--tasks changed faulthandler's text:\n%r\n%r" % (
            plain[:1000], out[:1000]))
    section = out[len(plain):]
    head = b"\nAsyncio tasks (%d):\n" % len(doc["tasks"])
    if not section.startswith(head):
        raise Fail("section starts %r, not %r" % (section[:200], head))
    # Each task's block up to its relations ("  awaits ...").
    blocks = set()
    for part in section.split(b"\n\n"):
        lines = part.split(b"\n")
        kept = [ln for ln in lines if ln.startswith(b"  File ") or
                ln.startswith(b"Task ") or ln == b"  <no Python frame>"]
        blocks.add(b"\n".join(kept) + b"\n")
    for t in doc["tasks"]:
        block = text_block(t)
        if block not in blocks:
            raise Fail("--tasks lacks the block\n%s" % block.decode())
    cycles = {t["deadlock_cycle"] for t in doc["tasks"]} - {None}
    for c in cycles:
        if b"\nDeadlock cycle %d: " % c not in section:
            raise Fail("--tasks does not name deadlock cycle %d" % c)
    tree = run([ATTACH, "--tasks=tree"] + args + [str(target.pid)],
               "--tasks=tree").stdout
    if not tree.startswith(plain + head):
        raise Fail("--tasks=tree: unexpected start %r" % tree[:300])
    drawn = re.findall(rb'^(?:[|` ]   |[|`]-- )*Task "[^"]*" \(id (0x[0-9a-f]+)\)'
                       rb'(?! \(shown above\))', tree[len(plain):], re.M)
    ids = sorted(i.decode() for i in drawn)
    if ids != sorted(t["id"] for t in doc["tasks"]):
        raise Fail("--tasks=tree draws %s" % ids)


def check_ps(interp, target, doc):
    out = run([interp.path, "-m", "asyncio", "ps", str(target.pid)],
              "python -m asyncio ps")
    rows = {}
    for line in out.stdout.decode().splitlines()[2:]:
        fields = re.split(r"\s{2,}", line.strip())
        if len(fields) >= 5:
            rows.setdefault((fields[1], fields[2]), set()).add(fields[-1])
    ours = {}
    for t in doc["tasks"]:
        by = {doc_id for doc_id in t["awaited_by"]} or {"0x0"}
        ours[(t["id"], t["name"])] = by
    if rows != ours:
        raise Fail("asyncio ps lists %r; pyfault %r" % (rows, ours))


def t_scenario(interp, scenario, load=False, args=()):
    res = Resources()
    try:
        if load:
            start_cpu_load(res)
        # Without DWARF, asend, athrow and FutureIter end the chain.
        target = Target(res, interp, scenario,
                        follow="--offsets=table" not in args)
        doc = json_tasks(target, args)
        check_json(target, doc, interp)
        check_text(target, doc, args)
        if scenario in PS_SCENARIOS and interp.version[:2] >= (3, 14):
            check_ps(interp, target, doc)
    finally:
        res.release()


# Dumps of the busy scenario tried before one finds the GIL held: each
# attach wakes the sleeping loop thread, which takes the GIL a moment.
CURRENT_TRIES = 20


def current_only_json(target):
    """A --current-thread-only --tasks document: with no current thread,
    no task either."""
    doc = json.loads(run([ATTACH, "--current-thread-only", "--tasks",
                          "--format", "json", str(target.pid)],
                         "--current-thread-only json").stdout)
    target.settle()
    if not doc["threads"] and "tasks" in doc:
        raise Fail("no current thread, yet tasks %r" % doc["tasks"])
    return doc


def current_only_text(target, mine):
    """The --current-thread-only --tasks text, or None when either dump
    found no current thread: the current thread's stack as without
    --tasks, then the section with mine."""
    plain = run([ATTACH, "--current-thread-only", str(target.pid)],
                "--current-thread-only").stdout
    target.settle()
    out = run([ATTACH, "--current-thread-only", "--tasks", str(target.pid)],
              "--current-thread-only --tasks").stdout
    target.settle()
    # Within one dump, no current thread means no task section; the two
    # dumps may each catch the GIL in transit, and are then made again.
    if not out.startswith(b"Stack"):
        if b"Asyncio tasks" in out:
            raise Fail("no current thread, yet %r" % out[:2000])
        return None
    if not plain:
        return None
    section = out[len(plain):]
    if not out.startswith(plain) or not section.startswith(
            b"\nAsyncio tasks (%d):\n" % len(mine)):
        raise Fail("--current-thread-only --tasks: %r" % out[-3000:])
    for t in mine:
        if text_block(t) not in section:
            raise Fail("the section lacks\n%s" % text_block(t))
    return out


def t_current_only(interp):
    """--current-thread-only --tasks: the tasks and loop of the current
    thread (the GIL holder, the loop thread that runs Python code), as
    the dump of all tasks (checked against the oracle) has them; none,
    and no section, where no thread is current (a free-threaded build, or
    the GIL in transit)."""
    res = Resources()
    try:
        target = Target(res, interp, "busy")
        full = json_tasks(target)
        check_json(target, full, interp)
        target.settle()
        if interp.free_threaded:
            doc = current_only_json(target)
            out = run([ATTACH, "--current-thread-only", "--tasks",
                       str(target.pid)], "--current-thread-only --tasks")
            if doc["threads"] or out.stdout or \
                    b"no thread holds the GIL" not in out.stderr:
                raise Fail("no GIL, yet a current thread: %r, %r" % (
                    out.stdout[:2000], out.stderr))
            return
        for _ in range(CURRENT_TRIES):
            doc = current_only_json(target)
            if doc["threads"]:
                break
        else:
            raise Fail("no dump of %d found the GIL held" % CURRENT_TRIES)
        current, = [t["thread_id"] for t in doc["threads"]]
        mine = [t for t in full["tasks"] if t["thread_id"] == current]
        if not mine or len(mine) == len(full["tasks"]):
            raise Fail("the busy thread %x has %d of %d tasks" % (
                current, len(mine), len(full["tasks"])))
        if doc["tasks"] != mine or doc["event_loops"] != [
                lp for lp in full["event_loops"]
                if lp["thread_id"] == current]:
            raise Fail("--current-thread-only tasks %r\nloops %r,\nnot "
                       "%r" % (doc["tasks"], doc["event_loops"], mine))
        for _ in range(CURRENT_TRIES):
            if current_only_text(target, mine) is not None:
                break
        else:
            raise Fail("no text dump of %d found the GIL held" %
                       CURRENT_TRIES)
    finally:
        res.release()


class Oracle:
    """The oracle a target under pyfault-watch wrote before it ended."""

    def __init__(self, path):
        with open(path) as f:
            self.loops = json.load(f)
        self.tasks = oracle_tasks(self.loops, True)


def t_table(interp, scenario):
    """A stripped build without its -dbg package: the shipped table rows
    (thread offsets and TaskObj), forced by --offsets=table, give the
    same tasks."""
    t_scenario(interp, scenario, args=["--offsets=table"])
    res = Resources()
    try:
        target = Target(res, interp, scenario)
        err = run([ATTACH, "--tasks", "-v", "--offsets=table",
                   str(target.pid)], "--tasks -v --offsets=table").stderr
        if b"asyncio task offsets from the table row of " not in err or \
                b"awaited futures in await chains are not followed: DWARF " \
                b"not allowed" not in err:
            raise Fail("TaskObj not from the table, or no note on the "
                       "await chains: %r" % err[-1500:])
    finally:
        res.release()


def asyncio_with_dwarf(interp):
    """The _asyncio extension interp imports, when it holds its own DWARF
    (pyenv's builds; Debian's keeps it in python3.X-dbg)."""
    out = subprocess.run([interp.path, "-c",
                          "import _asyncio; print(_asyncio.__file__)"],
                         stdout=subprocess.PIPE, timeout=TIMEOUT)
    path = out.stdout.decode().strip()
    if out.returncode != 0 or not path:
        return None
    sections = subprocess.run(["readelf", "-S", "-W", path],
                              stdout=subprocess.PIPE, timeout=TIMEOUT)
    return path if b" .debug_info " in sections.stdout else None


def t_stripped(interp, so):
    """_asyncio without DWARF, as a stripped build without its -dbg
    package has it: TaskObj comes from the shipped row (said with -v);
    with --offsets=dwarf, which leaves the table out, the section is one
    note line."""
    res = Resources()
    try:
        where = tempfile.mkdtemp(prefix="stripped-", dir=TMPDIR)
        copy = os.path.join(where, os.path.basename(so))
        run(["strip", "--strip-debug", "-o", copy, so], "strip")
        env = dict(os.environ, TASKS_TARGET_ASYNCIO_DIR=where)
        # No FutureIter offset: the chains end at the FutureIter (gather
        # has no async generator, whose offsets the interpreter's DWARF
        # would give).
        target = Target(res, interp, "gather", env=env, follow=False)
        maps = open("/proc/%d/maps" % target.pid).read()
        if copy not in maps:
            raise Fail("the target did not load %s" % copy)
        # The copy keeps the build-id of the original, whose offsets
        # the cache may hold from another case: none is read here.
        doc = json_tasks(target, ["--no-cache"])
        check_json(target, doc, interp)
        err = run([ATTACH, "--tasks", "-v", "--no-cache", str(target.pid)],
                  "--tasks -v").stderr
        if b"asyncio task offsets from the table row of " not in err or \
                b"awaited futures are not followed: " not in err:
            raise Fail("TaskObj not from the table, or no note on the "
                       "awaited futures: %r" % err[-1500:])
        plain = run([ATTACH, "--offsets=dwarf", "--no-cache",
                     str(target.pid)], "attach --offsets=dwarf").stdout
        out = run([ATTACH, "--tasks", "--offsets=dwarf", "--no-cache",
                   str(target.pid)], "--tasks --offsets=dwarf").stdout
        rest = out[len(plain):]
        if not out.startswith(plain) or not re.match(
                rb"^\nAsyncio tasks \(0\):\n\nNote: asyncio tasks not "
                rb"shown: [^\n]*TaskObj[^\n]*\n$", rest):
            raise Fail("expected one note line after the dump: %r" % rest)
        doc = json_tasks(target, ["--offsets=dwarf", "--no-cache"])
        if doc["tasks"] or not doc["tasks_note"]:
            raise Fail("JSON: tasks %r, note %r" % (doc["tasks"][:2],
                                                    doc["tasks_note"]))
    finally:
        res.release()


def cache_sources(err, cache):
    """From --tasks -v: where the TaskObj offsets came from ("dwarf",
    "table" or "debug": 3.14's _AsyncioDebug) and whether from the cache
    in cache; the same for the await chain offsets, and the cache's
    notes."""
    task = re.search(rb"^pyfault-attach: asyncio task offsets from (.*)$",
                     err, re.M)
    awaits = re.search(rb"^pyfault-attach: await chain offsets: (.*)$",
                       err, re.M)
    if not task:
        raise Fail("-v does not say where the task offsets came from: %r"
                   % err[-1500:])
    where = task.group(1)
    kind = ("dwarf" if where.startswith(b"the DWARF in ") else
            "table" if where.startswith(b"the table row of ") else
            "debug" if where.startswith(b"_AsyncioDebug in ") else None)
    if kind is None:
        raise Fail("unexpected task offsets source %r" % where)
    said = b", from the cache in " + cache.encode()
    parts = awaits.group(1).split(b"; ") if awaits else []
    return {"task": kind, "task_cached": said in where,
            "awaits": len(parts),
            "awaits_cached": sum(said in p for p in parts),
            "notes": re.findall(rb"^pyfault-attach: (offset cache [^\n]*)$",
                                err, re.M)}


def t_cache(interp):
    """The task offsets that come from DWARF (3.11-3.13's TaskObj, the
    asend, athrow and FutureIter offsets) are kept in the offset cache:
    with a fresh cache, the first --tasks reads DWARF and writes one entry
    per build-id and kind, the second takes them all from the cache (-v
    says so) and prints the same; entries corrupted or torn are ignored
    (-v says why), the tasks are the interpreter's all the same, and the
    entries are written again."""
    res = Resources()
    try:
        cache = tempfile.mkdtemp(prefix="cache-", dir=TMPDIR)
        env = dict(os.environ, XDG_CACHE_HOME=cache)
        cache = os.path.join(cache, "pyfault")
        target = Target(res, interp, "asyncgen")
        cmd = [ATTACH, "--tasks", "-v", str(target.pid)]
        first = run(cmd, "--tasks -v, fresh cache", env=env)
        was = cache_sources(first.stderr, cache)
        kinds = sorted(n.split(".")[1] for n in os.listdir(cache)
                       if n.split(".")[1] not in ("offsets", "elf"))
        want = sorted((["task"] if was["task"] == "dwarf" else []) +
                      (["futureiter", "genobject"] if was["awaits"] else []))
        if was["task_cached"] or was["awaits_cached"] or kinds != want \
                or was["notes"]:
            raise Fail("fresh cache: %r, entries %r (want %r): %r" % (
                was, kinds, want, first.stderr[-1500:]))
        if interp.version[:2] >= (3, 14) and (was["task"], was["awaits"]) \
                != ("debug", 2):
            raise Fail("3.14+: task offsets from %s, await offsets from %d"
                       " objects' DWARF" % (was["task"], was["awaits"]))
        if not want:
            raise Skip("no DWARF for the task offsets here (task offsets "
                       "from %s): nothing to cache" % was["task"])
        second = run(cmd, "--tasks -v, warm cache", env=env)
        now = cache_sources(second.stderr, cache)
        if now["task_cached"] != (was["task"] == "dwarf") or \
                now["awaits_cached"] != now["awaits"] or \
                now["awaits"] != was["awaits"] or now["notes"]:
            raise Fail("warm cache: %r: %r" % (now, second.stderr[-1500:]))
        if second.stdout != first.stdout:
            raise Fail("the dump from the cache differs:\n%s\n---\n%s" % (
                first.stdout.decode(errors="replace"),
                second.stdout.decode(errors="replace")))
        check_json(target, json_tasks(target, env=env), interp)

        # Corrupt entries (one digit changed) and a torn one.
        entries = [os.path.join(cache, n) for n in sorted(os.listdir(cache))
                   if n.split(".")[1] not in ("offsets", "elf")]
        for i, path in enumerate(entries):
            with open(path, "rb") as f:
                data = f.read()
            if i == 0:
                data = data[:len(data) // 2]
            else:
                data = re.sub(rb"(pointer )(\d)", lambda m: m.group(1) + (
                    b"1" if m.group(2) != b"1" else b"2"), data, count=1)
            with open(path, "wb") as f:
                f.write(data)
        third = run(cmd, "--tasks -v, corrupt cache", env=env)
        now = cache_sources(third.stderr, cache)
        if now["task_cached"] or now["awaits_cached"] or \
                not now["notes"] or not re.match(
                    rb"offset cache entry ignored: entry (corrupt|"
                    rb"truncated)", now["notes"][0]):
            raise Fail("corrupt cache: %r: %r" % (now,
                                                 third.stderr[-1500:]))
        if third.stdout != first.stdout:
            raise Fail("the dump with a corrupt cache differs")
        check_json(target, json_tasks(target, env=env), interp)
        fourth = cache_sources(run(cmd, "--tasks -v, rewritten cache",
                                   env=env).stderr, cache)
        if fourth["awaits_cached"] != fourth["awaits"] or \
                fourth["task_cached"] != (was["task"] == "dwarf"):
            raise Fail("the entries were not written again: %r" % fourth)
    finally:
        res.release()


def watch_run(interp, kind, extra):
    """The output of pyfault-watch --tasks over the gather scenario that
    ends by SIGSEGV.  A pyfault-watch that does not end leaves its
    program running when killed (as documented): the program is ended
    through it too, not left parked for an hour."""
    fmt = "text" if kind == "text" else "json"
    path = os.path.join(TMPDIR, "oracle-watch-%s-%s.json" % (interp.label,
                                                             kind))
    out = os.path.join(TMPDIR, "watch-%s.%s" % (interp.label, kind))
    res = Resources()
    try:
        proc = res.popen([WATCH, "--tasks", "--format", fmt, "-o", out] +
                         extra + ["--", interp.path, TARGET, "gather", path,
                                  "-1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            # SIGTERM is passed on to the program; then its stderr (a
            # traceback of the target, say) tells why it never faulted.
            proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                err = b""
            raise Fail("pyfault-watch did not end in %d s; stderr %r" % (
                TIMEOUT, err[-2000:]))
        if proc.returncode != -11:  # as the program ended
            raise Fail("pyfault-watch exit %d, stderr %r" % (
                proc.returncode, err[-2000:]))
        with open(out, "rb") as f:
            return f.read()
    finally:
        pyinterps.end_watched(res, None)


def t_watch(interp):
    # The program's one thread faults: --current-thread-only keeps every
    # task.
    runs = {"json": [], "text": [], "current": ["--current-thread-only"]}
    docs = {kind: watch_run(interp, kind, extra)
            for kind, extra in runs.items()}
    for kind in ("json", "current"):
        try:
            doc, = json_check.documents(docs[kind], "pyfault-watch")
        except (ValueError, json_check.SchemaError) as exc:
            raise Fail("pyfault-watch --tasks --format json (%s): %s" % (
                kind, exc))
        check_json(Oracle(os.path.join(TMPDIR, "oracle-watch-%s-%s.json"
                                       % (interp.label, kind))), doc,
                   interp)
    text = docs["text"]
    if not text.startswith(b"Fatal Python error: Segmentation fault") \
            or b"\nAsyncio tasks (%d):\n" % len(doc["tasks"]) not in text:
        raise Fail("pyfault-watch --tasks: %r" % text[-3000:])


def t_watch_request(interp):
    """pyfault-watch --tasks asked for a dump by SIGUSR1 while its program
    runs: the tasks the interpreter has, in a JSON document on standard
    error; the program goes on."""
    res = Resources()
    target = None
    try:
        target = Target(res, interp, "gather", prefix=[
            WATCH, "--tasks", "--format", "json", "--"])
        target.proc.send_signal(signal.SIGUSR1)
        err = pyinterps.read_until(
            target.proc.stderr, lambda err: err.endswith(b"}\n"),
            "no complete document from pyfault-watch")
        try:
            doc, = json_check.documents(err, "pyfault-watch")
        except (ValueError, json_check.SchemaError) as exc:
            raise Fail("pyfault-watch --tasks on request: %s" % exc)
        check_json(target, doc, interp)
        if target.proc.poll() is not None:
            raise Fail("pyfault-watch ended after the dump (status %r)"
                       % target.proc.returncode)
    finally:
        pyinterps.end_watched(res, target)


def t_no_asyncio(interp):
    res = Resources()
    try:
        rfd, wfd = res.pipe()
        proc = res.popen([interp.path, "-c",
                          "import os, sys; os.write(%d, b'r'); "
                          "sys.stdin.read()" % wfd],
                         stdin=subprocess.PIPE, pass_fds=(wfd,))
        res.close(wfd)
        expect_byte(rfd, b"r", "the target to start")
        plain = run([ATTACH, str(proc.pid)], "attach").stdout
        out = run([ATTACH, "--tasks", "-v", str(proc.pid)], "--tasks -v")
        if out.stdout != plain:
            raise Fail("--tasks without asyncio: %r, not %r" % (out.stdout,
                                                                plain))
        if b"no asyncio task section" not in out.stderr:
            raise Fail("no -v note: %r" % out.stderr)
        doc = json.loads(run([ATTACH, "--tasks", "--format", "json",
                              str(proc.pid)], "json").stdout)
        if "tasks" in doc:
            raise Fail("a tasks member without asyncio")
    finally:
        res.release()


def t_pure_python_no_dwarf(interp):
    """3.14+ without _asyncio reads its pure-Python tasks with offsets
    from DWARF that no debug offset gives: with --offsets=debug-offsets,
    no section (asyncio may as well not be imported), and -v says why."""
    res = Resources()
    try:
        target = Target(res, interp, "gather-py")
        only = "--offsets=debug-offsets"
        plain = run([ATTACH, only, str(target.pid)], "attach").stdout
        out = run([ATTACH, only, "--tasks", "-v", str(target.pid)],
                  "--tasks -v")
        if out.stdout != plain:
            raise Fail("--tasks %s: %r, not %r" % (only, out.stdout, plain))
        if b"pure-Python tasks, if any, need DWARF" not in out.stderr:
            raise Fail("no -v note: %r" % out.stderr)
    finally:
        res.release()


def t_core(interp):
    """pyfault-core --tasks reads the tasks from a gcore of the target,
    once the target is gone, as pyfault-attach --tasks read them from the
    process: the same section, and the interpreter's own oracle."""
    if CORE is None:
        raise Skip("no pyfault-core given (--core or $PYFAULT_CORE)")
    if shutil.which("gcore") is None:
        raise Skip("gcore (Debian package gdb) is not installed")
    res = Resources()
    try:
        target = Target(res, interp, "gather")
        attached = run([ATTACH, "--tasks", str(target.pid)], "--tasks").stdout
        prefix = os.path.join(TMPDIR, "core-%s" % interp.label)
        try:
            made = subprocess.run(["gcore", "-o", prefix, str(target.pid)],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE,
                                  timeout=TIMEOUT * 4)
        except subprocess.TimeoutExpired:
            raise Fail("gcore hung")
        if made.returncode != 0:
            raise Fail("gcore failed: %r" % made.stderr[-2000:])
        core = "%s.%d" % (prefix, target.pid)
        # What is read must come from the core alone.
        target.proc.kill()
        target.proc.wait()
        doc = run([CORE, "--tasks", "--format", "json", core],
                  "pyfault-core --tasks --format json").stdout
        try:
            docs = json_check.documents(doc, "pyfault-core")
        except (ValueError, json_check.SchemaError) as exc:
            raise Fail("pyfault-core --tasks --format json: %s" % exc)
        check_json(target, docs[0], interp)
        text = run([CORE, "--tasks", core], "pyfault-core --tasks").stdout
        section = attached[attached.index(b"\nAsyncio tasks"):]
        if not text.endswith(section):
            raise Fail("pyfault-core's task section differs from "
                       "pyfault-attach's:\n%s\n---\n%s" % (
                           text.decode(errors="replace"),
                           section.decode(errors="replace")))
        os.unlink(core)
    finally:
        res.release()


def make_tests(suite):
    global ATTACH, WATCH, CORE, TMPDIR
    ATTACH, WATCH, CORE = suite.attach, suite.watch, suite.core
    TMPDIR = suite.tmpdir
    # The offset cache goes with the other temporary files, not in the
    # user's ~/.cache.
    os.environ["XDG_CACHE_HOME"] = os.path.join(TMPDIR, "cache")
    tests = []
    for i in suite.full:
        for s in SCENARIOS:
            why = scenario_skip(i, s)
            if why:
                print("skip %s %s: %s" % (i.label, s, why))
                continue
            tests.append(("%s %s" % (i.label, s),
                          (lambda i=i, s=s: t_scenario(i, s)), i))
        if not i.debug and (3, 11) <= i.version[:2] <= (3, 13):
            for s in ("gather", "deadlock", "asyncgen"):
                tests.append(("%s %s-table" % (i.label, s),
                              (lambda i=i, s=s: t_table(i, s)), i))
            so = asyncio_with_dwarf(i)
            if so:
                tests.append(("%s stripped-asyncio" % i.label,
                              lambda i=i, so=so: t_stripped(i, so), i))
            else:
                print("skip %s stripped-asyncio: its _asyncio keeps no "
                      "DWARF of its own to strip" % i.label)
        tests.append(("%s gather-under-load" % i.label,
                      lambda i=i: t_scenario(i, "gather", True), i))
        tests.append(("%s current-thread-only" % i.label,
                      lambda i=i: t_current_only(i), i))
        tests.append(("%s watch-fatal" % i.label,
                      lambda i=i: t_watch(i), i))
        tests.append(("%s cache" % i.label, lambda i=i: t_cache(i), i))
        tests.append(("%s watch-request" % i.label,
                      lambda i=i: t_watch_request(i), i))
        tests.append(("%s no-asyncio" % i.label,
                      lambda i=i: t_no_asyncio(i), i))
        if i.version[:2] >= (3, 14):
            tests.append(("%s pure-python-no-dwarf" % i.label,
                          lambda i=i: t_pure_python_no_dwarf(i), i))
        tests.append(("%s core" % i.label, lambda i=i: t_core(i), i))
    return tests


def main():
    return pyinterps.suite_main(__doc__, "pyfault-tasks-", make_tests,
                                optional=("core",), reason_of=lambda i: (
                                    "asyncio tasks exist from 3.11 on in "
                                    "the form --tasks reads"
                                    if i.version < (3, 11) else None))


if __name__ == "__main__":
    sys.exit(main())
