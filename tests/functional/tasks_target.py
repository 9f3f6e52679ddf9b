"""Target program for tests/functional/test_tasks.py.

Parks asyncio tasks in one scenario, then writes what the interpreter
itself says of them (the oracle) to a file, one JSON document per event
loop, and a byte on the ready pipe once every loop is parked:
  * every task of asyncio.all_tasks(loop): id, name, the loop and thread,
    its await chain from the task's coroutine down through cr_await,
    gi_yieldfrom and ag_await (file, name and f_lineno of each frame,
    outermost first; an async generator's asend or athrow object to the
    generator, a coroutine_wrapper to its coroutine, as gc.get_referents
    gives them) and the object the chain ends at (a FutureIter's future,
    the same way; and, as "unfollowed", the chain that stops at asend,
    athrow, coroutine_wrapper and FutureIter), and the tasks
    awaiting it:
    3.14's _asyncio_awaited_by (and, as "call_graph", what 3.14's
    asyncio.capture_call_graph says), or before 3.14 the tasks whose
    _fut_waiter is this task or a gather (its _children) holding it, and
    the task
    leaving a TaskGroup (an __aexit__ frame of its chain whose self is
    the group) that holds it (_tasks);
  * the task that computes the oracle is named "oracle" and left out: it
    runs while it writes.
Nothing moves after that: every task waits on something that never comes
(an Event never set, a lock held, an empty queue, a sleep of an hour), and
no timer is due before then.

Usage: tasks_target.py SCENARIO[-py] ORACLE_FILE READY_FD
With -py, asyncio runs without its _asyncio accelerator: pure-Python Task
and Future objects.  With TASKS_TARGET_ASYNCIO_DIR set in the
environment, _asyncio is imported from that directory.
A READY_FD of -1 ends the program by SIGSEGV instead (under pyfault-watch),
from a callback of the loop, outside any task.
Scenarios: gather taskgroup awaits_task primitives asyncgen eager threads
busy deadlock many deep; busy is threads whose last loop to report then
runs a callback that never ends (its thread holds the GIL).  Runs until killed.
"""
import os
import sys
if sys.argv[1:2] and sys.argv[1].endswith("-py"):
    sys.modules["_asyncio"] = None  # asyncio falls back on _PyTask
if os.environ.get("TASKS_TARGET_ASYNCIO_DIR"):
    # A copy of _asyncio without its DWARF, imported instead.
    sys.path.insert(0, os.environ["TASKS_TARGET_ASYNCIO_DIR"])
import asyncio  # noqa: E402
import gc
import json
import signal
import threading
import types

PARK = 3600.0


ASYNC_GEN_RUNNERS = ("async_generator_asend", "async_generator_athrow")


def referent(obj, kind):
    """What obj holds of kind, as the interpreter's own traversal of it
    (gc.get_referents) gives it: Python has no attribute for it."""
    found = [r for r in gc.get_referents(obj) if isinstance(r, kind)]
    return found[0] if len(found) == 1 else None


def chain_of(task, through=True):
    """The frames of task's await chain and what it ends at; through=False
    stops at an async generator's asend or athrow object, at a coroutine's
    __await__() wrapper and at a FutureIter, as a reader that cannot look
    inside them does."""
    frames, coro, awaits = [], task.get_coro(), None
    while coro is not None:
        if isinstance(coro, types.CoroutineType):
            frame, nxt = coro.cr_frame, coro.cr_await
        elif isinstance(coro, types.GeneratorType):
            frame, nxt = coro.gi_frame, coro.gi_yieldfrom
        elif isinstance(coro, types.AsyncGeneratorType):
            frame, nxt = coro.ag_frame, coro.ag_await
        elif through and type(coro).__name__ in ASYNC_GEN_RUNNERS:
            # An `async for`, anext() or aclose() runs the generator.
            coro = referent(coro, types.AsyncGeneratorType)
            continue
        elif through and type(coro).__name__ == "coroutine_wrapper":
            # coro.__await__(), which a yield from or an __await__ runs.
            coro = referent(coro, types.CoroutineType)
            continue
        else:
            if through and type(coro).__name__ == "FutureIter":
                # `await future`: what it waits on is the future.
                coro = referent(coro, asyncio.Future) or coro
            awaits = [type(coro).__name__, "0x%x" % id(coro)]
            break
        if frame is None:
            break
        frames.append([frame.f_code.co_filename, frame.f_code.co_name,
                       frame.f_lineno])
        coro = nxt
    return frames, awaits


def group_exited(task):
    """The TaskGroup whose `async with` task is leaving: the self of an
    __aexit__ frame of its await chain, a group whose parent task it is."""
    coro = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(
            coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        me = frame.f_locals.get("self") if frame is not None and \
            frame.f_code.co_name == "__aexit__" else None
        if isinstance(me, asyncio.TaskGroup) and me._parent_task is task:
            return me
        coro = getattr(coro, "cr_await", None) or getattr(
            coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return None


def waiter_awaiters(tasks):
    """Before 3.14 a task records only what it waits on (_fut_waiter):
    a task, or a gather's future with its _children; a task leaving a
    TaskGroup awaits the group's tasks (3.14 links these itself)."""
    by = {id(t): [] for t in tasks}
    for parent in tasks:
        waiter = parent._fut_waiter
        awaited = [] if waiter is None else [waiter] + list(
            getattr(waiter, "_children", ()) or ())
        group = group_exited(parent)
        if group is not None:
            awaited += list(group._tasks)
        for t in awaited:
            if id(t) in by:
                by[id(t)].append(parent)
    return by


def call_graph(task):
    """3.14's own asyncio.capture_call_graph(task): the frames of its
    coroutines, outermost first (it stops at the first awaitable that is
    not a coroutine), and the tasks awaiting it; None before 3.14, and
    where it recurses for ever (a cycle of tasks awaiting each other)."""
    if not hasattr(asyncio, "capture_call_graph"):
        return None
    try:
        graph = asyncio.capture_call_graph(task)
    except RecursionError:
        return None
    return {"frames": [[e.frame.f_code.co_filename, e.frame.f_code.co_name,
                        e.frame.f_lineno] for e in reversed(graph.call_stack)],
            "awaited_by": sorted("0x%x" % id(p.future)
                                 for p in graph.awaited_by)}


def oracle(loop):
    me = asyncio.current_task()
    tasks = []
    every = asyncio.all_tasks(loop)
    waiting = None if sys.version_info >= (3, 14) else waiter_awaiters(every)
    for t in every:
        if t is me:
            continue
        frames, awaits = chain_of(t)
        named_frames, named = chain_of(t, through=False)
        if waiting is not None:
            t_by = waiting[id(t)]
        else:
            t_by = getattr(t, "_asyncio_awaited_by", None) or ()
        tasks.append({
            "id": "0x%x" % id(t), "name": t.get_name(),
            "loop": "0x%x" % id(loop), "thread_id": threading.get_ident(),
            "frames": frames, "awaits": awaits,
            "unfollowed": {"frames": named_frames, "awaits": named},
            "awaited_by": sorted("0x%x" % id(p) for p in t_by),
            "call_graph": call_graph(t),
        })
    return {"loop": "0x%x" % id(loop), "thread_id": threading.get_ident(),
            "tasks": tasks}


async def settle():
    # Long enough for every task to reach its park: each await that
    # resolves at once takes a turn of the loop.
    for _ in range(20):
        await asyncio.sleep(0)


class Run:
    def __init__(self, path, ready_fd, loops, spin=False):
        self.path, self.ready_fd, self.spin = path, ready_fd, spin
        self.lock = threading.Lock()
        self.docs, self.loops = [], loops

    async def report(self):
        await settle()
        doc = oracle(asyncio.get_running_loop())
        with self.lock:
            self.docs.append(doc)
            if len(self.docs) == self.loops:
                with open(self.path + ".tmp", "w") as f:
                    json.dump(self.docs, f)
                os.rename(self.path + ".tmp", self.path)
                # Once this task is suspended too: the loop runs the
                # callback after the task's step.
                if self.ready_fd < 0:
                    asyncio.get_running_loop().call_soon(
                        os.kill, os.getpid(), signal.SIGSEGV)
                else:
                    asyncio.get_running_loop().call_soon(
                        os.write, self.ready_fd, b"r")
                if self.spin:
                    asyncio.get_running_loop().call_soon(spin)
        await asyncio.get_running_loop().create_future()


async def fetch_user(ev):
    await ev.wait()


async def handler(ev):
    await fetch_user(ev)


async def s_gather(run):
    ev = asyncio.Event()
    asyncio.create_task(run.report(), name="oracle")
    await asyncio.gather(*(handler(ev) for _ in range(3)))


async def child(ev, depth):
    if depth:
        await child(ev, depth - 1)
    else:
        await ev.wait()


async def s_taskgroup(run):
    ev = asyncio.Event()
    asyncio.create_task(run.report(), name="oracle")
    async with asyncio.TaskGroup() as tg:
        for i in range(3):
            tg.create_task(child(ev, i), name="tg-child-%d" % i)


async def s_awaits_task(run):
    ev = asyncio.Event()
    inner = asyncio.create_task(child(ev, 2), name="inner")

    async def outer():
        await inner
    t = asyncio.create_task(outer(), name="outer")
    asyncio.create_task(run.report(), name="oracle")
    await t


async def s_primitives(run):
    lock, ev, cond = asyncio.Lock(), asyncio.Event(), asyncio.Condition()
    queue = asyncio.Queue()
    await lock.acquire()

    async def locker():
        async with lock:
            pass

    async def waiter():
        async with cond:
            await cond.wait()
    asyncio.create_task(locker(), name="on-lock")
    asyncio.create_task(ev.wait(), name="on-event")
    asyncio.create_task(queue.get(), name="on-queue")
    asyncio.create_task(asyncio.sleep(PARK), name="on-sleep")
    asyncio.create_task(waiter(), name="on-condition")

    async def on_future(fut):
        await fut
    asyncio.create_task(on_future(asyncio.get_running_loop().create_future()),
                        name="on-future")
    asyncio.create_task(run.report(), name="oracle")
    await ev.wait()


async def ticker(ev):
    yield 1
    await ev.wait()
    yield 2


async def late_ticker(ev):
    await ev.wait()
    yield 1


async def closing(ev):
    try:
        yield 1
    finally:
        await ev.wait()


def gen_step(ev):
    # A generator-based awaitable: the chain goes through gi_yieldfrom,
    # then through the coroutine_wrapper that __await__() returns.
    yield from ev.wait().__await__()


async def s_asyncgen(run):
    ev = asyncio.Event()

    async def consume():
        async for _ in ticker(ev):
            pass

    class Awaitable:
        def __await__(self):
            return gen_step(ev)

    async def through_generator():
        await Awaitable()
    async def consume_nested():
        async def outer_gen():
            async for v in ticker(ev):
                yield v
        async for _ in outer_gen():
            pass

    async def next_of():
        await anext(late_ticker(ev))

    async def close_it():
        agen = closing(ev)
        await agen.__anext__()
        await agen.aclose()
    asyncio.create_task(consume(), name="async-for")
    asyncio.create_task(consume_nested(), name="async-for-nested")
    asyncio.create_task(next_of(), name="anext")
    asyncio.create_task(close_it(), name="aclose")
    asyncio.create_task(through_generator(), name="yield-from")
    asyncio.create_task(run.report(), name="oracle")
    await ev.wait()


async def s_eager(run):
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)
    ev = asyncio.Event()
    for i in range(3):
        loop.create_task(child(ev, i), name="eager-%d" % i)
    loop.set_task_factory(None)
    asyncio.create_task(run.report(), name="oracle")
    await ev.wait()


async def s_threads(run):
    def other():
        asyncio.run(s_gather(run), debug=False)
    threading.Thread(target=other, name="second-loop", daemon=True).start()
    await s_gather(run)


def spin():
    # A callback of the loop, not a task: it holds the GIL for good, and
    # every task stays as the oracle saw it.  One line: every dump of it
    # is the same.
    while True: pass  # noqa: E701


async def s_busy(run):
    # s_threads whose last loop to report then runs Python code.
    await s_threads(run)


async def s_deadlock(run):
    tasks = {}

    async def first():
        await tasks["second"]

    async def second():
        await tasks["first"]
    tasks["first"] = asyncio.create_task(first(), name="first")
    tasks["second"] = asyncio.create_task(second(), name="second")
    asyncio.create_task(run.report(), name="oracle")
    await asyncio.gather(tasks["first"], tasks["second"])


async def level3(ev):
    await ev.wait()


async def level2(ev):
    await level3(ev)


async def level1(ev):
    await level2(ev)


async def level0(ev):
    await level1(ev)


async def s_many(run):
    ev = asyncio.Event()
    for i in range(10000):
        asyncio.create_task(level0(ev), name="many-%d" % i)
    asyncio.create_task(run.report(), name="oracle")
    await ev.wait()


async def s_deep(run):
    # Deeper than faulthandler's 100 frames.
    ev = asyncio.Event()
    asyncio.create_task(child(ev, 150), name="deep")
    asyncio.create_task(run.report(), name="oracle")
    await ev.wait()


SCENARIOS = {
    "gather": s_gather, "taskgroup": s_taskgroup,
    "awaits_task": s_awaits_task, "primitives": s_primitives,
    "asyncgen": s_asyncgen, "eager": s_eager, "threads": s_threads,
    "busy": s_busy,
    "deadlock": s_deadlock, "many": s_many, "deep": s_deep,
}


def main():
    scenario, path, ready_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    scenario = scenario[:-3] if scenario.endswith("-py") else scenario
    run = Run(path, ready_fd, 2 if scenario in ("threads", "busy") else 1,
              spin=scenario == "busy")
    asyncio.run(SCENARIOS[scenario](run))


if __name__ == "__main__":
    main()
