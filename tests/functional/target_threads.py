# -*- coding: utf-8 -*-
"""Target program for tests/functional/test_attach.py.

Runs unmodified on CPython 3.6 to 3.14 (2.7 has target_py27.py).  It parks threads in known nested
calls, registers faulthandler on SIGUSR1 (the oracle pyfault-attach is
compared with), announces readiness on a pipe and waits:

  SIGUSR1  faulthandler writes the all-threads dump to --oracle, then (chain)
           a Python handler writes b"d" on the ready pipe: the dump is done.
  SIGUSR2  a Python handler stops the main thread and opens every gate; the
           program joins its threads and exits 0.

Why the two dumps (pyfault's, taken first, and faulthandler's) are identical:
  * every parked thread blocks in a C call (lock.acquire, os.read) on the same
    source line as its readiness signal ("ready.release(); gate.acquire()"),
    so its line cannot change between the two reads;
  * the main thread spins in pure Python on one line, holding the GIL, so it
    is the GIL holder for pyfault and the thread that runs the SIGUSR1 handler
    for faulthandler: both mark it "Current thread";
  * only the main thread can take SIGUSR1 and SIGUSR2 (the others block
    them);
  * the switch interval is huge, so no thread is forced to give up the GIL
    between its readiness signal and its blocking call.

Usage:
  target_threads.py --ready-fd FD --oracle FILE
                    [--scenario nested,deep,names,noframe,many]
                    [--notify PID:SIGNAL | --main-blocked]
Readiness: b"r" on FD once every thread is parked; then, unless
--main-blocked, SIGNAL sent to PID by the spinning main thread (it holds the
GIL from then on: os.kill keeps the GIL where os.write releases it).  With
--main-blocked, b"r" is the last thing the main thread writes before it
blocks; the driver then waits (through /proc) until every thread sleeps.
"""
import _thread
import faulthandler
import os
import signal
import sys
import threading
import time

STOP = [False]
GATES = []        # locks held by the program; SIGUSR2 releases each once
WAKE_FDS = []     # pipe write ends; SIGUSR2 writes one byte to each
READY_FD = [-1]


# --------------------------------------------------------------- parking ----

def new_lock(locked):
    lock = _thread.allocate_lock()
    if locked:
        lock.acquire()
    return lock


def park(ready, gate):
    ready.release(); gate.acquire()  # noqa: E702  (one line on purpose)


def wait_for_body(ready, gate):
    park(ready, gate)


def parse_headers(ready, gate):
    wait_for_body(ready, gate)


def handle_request(ready, gate):
    parse_headers(ready, gate)


def poll_once(ready, gate):
    park(ready, gate)


def io_loop(ready, gate):
    poll_once(ready, gate)


def flush_queue(ready, gate, depth):
    if depth:
        flush_queue(ready, gate, depth - 1)
    else:
        ready.release(); gate.acquire()  # noqa: E702


def recurse(ready, gate, n):
    if n == 0:
        ready.release(); gate.acquire()  # noqa: E702
    else:
        recurse(ready, gate, n - 1)


def run_chain(ready, gate, chain):
    chain[0](ready, gate, chain[1:])


# Threads started with the threading module (their stacks include threading's
# _bootstrap frames) and with _thread (no bootstrap frames).
THREADS = []
RAW_DONE = []


def start_thread(name, func, *args):
    ready = new_lock(True)
    gate = new_lock(True)
    GATES.append(gate)
    thread = threading.Thread(target=func, name=name, args=(ready, gate) + args)
    thread.daemon = True
    thread.start()
    THREADS.append(thread)
    ready.acquire()     # the thread is parked in gate.acquire() now


def raw_bootstrap(func, ready, gate, done, args):
    try:
        func(ready, gate, *args)
    finally:
        done.release()


def start_raw_thread(func, *args):
    ready = new_lock(True)
    gate = new_lock(True)
    done = new_lock(True)
    GATES.append(gate)
    RAW_DONE.append(done)
    _thread.start_new_thread(raw_bootstrap, (func, ready, gate, done, args))
    ready.acquire()


# ------------------------------------------------------------- scenarios ----

def scenario_nested():
    start_thread("request-handler", handle_request)
    start_thread("io-loop", io_loop)
    start_raw_thread(flush_queue, 4)


def scenario_deep():
    # 150 recursive frames + the thread's bootstrap frames: over the
    # 100-frame limit of faulthandler.
    start_thread("deep-recursion", recurse, 150)


LONG_NAME = "f" + "x" * 598 + "y"                       # 600 code points
LONG_FILE = ("/srv/" + "long_dir_" * 70)[:597] + ".py"  # 600 code points
assert len(LONG_NAME) == 600 and len(LONG_FILE) == 600

# (function name, file name); names that are not identifiers are set with
# code.replace(co_name=...).
WEIRD = [
    (u"\u00f1and\u00fa_\u65e5\u672c\u8a9e", u"/opt/caf\u00e9/\u00f1and\u00fa.py"),
    (LONG_NAME, LONG_FILE),
    (u"\u65e5" * 600, u"/opt/" + u"\u00e9" * 595),
    (u"emoji_\U0001F600", u"/opt/\u65e5\u672c/\U0001F600.py"),
    (u"surrogate_\udcff", u"/opt/lone_\udcff_surrogate.py"),
    (u"ctl\tname\x7f\x01", u"/opt/tab\there\x1b.py"),
    (u"wide_" + u"\U0001F600" * 600, u"/opt/" + u"\U0001F600" * 600),
]

CHAIN_SRC = (
    "# generated\n"
    "\n"
    "def {name}(ready, gate, chain):\n"
    "    if chain:\n"
    "        chain[0](ready, gate, chain[1:])\n"
    "    else:\n"
    "        ready.release(); gate.acquire()\n"
)


def with_name(code, name):
    if hasattr(code, "replace"):
        return code.replace(co_name=name)
    # 3.6, 3.7: no code.replace() yet.
    import types
    return types.CodeType(
        code.co_argcount, code.co_kwonlyargcount, code.co_nlocals,
        code.co_stacksize, code.co_flags, code.co_code, code.co_consts,
        code.co_names, code.co_varnames, code.co_filename, name,
        code.co_firstlineno, code.co_lnotab, code.co_freevars,
        code.co_cellvars)


def make_chain_func(name, filename, lines_before):
    ident = name if name.isidentifier() else "placeholder"
    src = "\n" * lines_before + CHAIN_SRC.format(name=ident)
    try:
        code = compile(src, filename, "exec")
    except (ValueError, UnicodeError):
        # Not expected on 3.8+, kept so that the test reports a clear
        # difference instead of a crash if compile() refuses a file name.
        code = compile(src, "placeholder.py", "exec")
        code = code.replace(co_filename=filename)
    namespace = {}
    exec(code, namespace)
    func = namespace[ident]
    if ident != name:
        func.__code__ = with_name(func.__code__, name)
    return func


def scenario_names():
    funcs = [make_chain_func(name, filename, index)
             for index, (name, filename) in enumerate(WEIRD)]
    # One thread walks through every weird frame, outermost first ...
    start_thread("weird-chain", run_chain, funcs)
    # ... and a raw thread parks directly in the non-ASCII one.
    start_raw_thread(run_chain, funcs[:1])


def scenario_noframe():
    before = _thread._count()
    read_fd, write_fd = os.pipe()
    WAKE_FDS.append(write_fd)
    _thread.start_new_thread(os.read, (read_fd, 1))
    # No primitive tells that a thread blocked in C has started: poll its
    # count.  The new thread holds the GIL from its start until os.read()
    # releases it, so once the count has grown it is blocked in read().
    while _thread._count() <= before:
        time.sleep(0.001)


def scenario_many():
    # With the main thread and others, past faulthandler's 100 threads:
    # the main thread, the oldest, is not among those it shows.
    for _ in range(105):
        start_raw_thread(park)


SCENARIOS = {
    "many": scenario_many,
    "nested": scenario_nested,
    "deep": scenario_deep,
    "names": scenario_names,
    "noframe": scenario_noframe,
}


# ------------------------------------------------------------ main thread ---

def on_usr1(signum, frame):
    # Chained after faulthandler's handler: the oracle is complete.
    os.write(READY_FD[0], b"d")


def on_usr2(signum, frame):
    # The driver sends SIGUSR2 again until the program exits (see
    # pyinterps.end_by_signal); once here, the repeats must not kill it
    # during its shutdown, which restores the default action.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    STOP[0] = True
    for gate in GATES:
        try:
            gate.release()
        except RuntimeError:
            pass
    for fd in WAKE_FDS:
        os.write(fd, b"x")


def spin(fd, stop, pid, signo):
    # os.write() releases the GIL around write(2): the driver could run
    # pyfault-attach before this thread takes the GIL back.  os.kill() keeps
    # the GIL, so the signal says "the main thread holds the GIL and spins".
    os.write(fd, b"r")
    told = 0
    while not stop[0]: told = told or os.kill(pid, signo) or 1  # noqa: E701


def block(fd, gate):
    os.write(fd, b"r"); gate.acquire()  # noqa: E702


def wait_for_stop(fd, main_blocked, notify):
    if main_blocked:
        gate = new_lock(True)
        GATES.append(gate)
        block(fd, gate)
    else:
        spin(fd, STOP, notify[0], notify[1])


def serve_forever(fd, main_blocked, notify):
    wait_for_stop(fd, main_blocked, notify)


def parse_args(argv):
    opts = {"scenario": "nested", "main_blocked": False, "ready_fd": None,
            "oracle": None, "notify": None}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--main-blocked":
            opts["main_blocked"] = True
            i += 1
            continue
        if arg not in ("--scenario", "--ready-fd", "--oracle",
                       "--notify") or i + 1 >= len(argv):
            sys.exit("target_threads.py: bad argument %r" % arg)
        opts[arg[2:].replace("-", "_")] = argv[i + 1]
        i += 2
    if opts["ready_fd"] is None:
        sys.exit("target_threads.py: --ready-fd is required")
    return opts


def main(argv):
    opts = parse_args(argv)
    fd = int(opts["ready_fd"])
    READY_FD[0] = fd
    # No thread is ever forced to give the GIL away (see the docstring).
    sys.setswitchinterval(100.0)
    oracle = None
    if opts["oracle"]:
        oracle = open(opts["oracle"], "w")
        signal.signal(signal.SIGUSR1, on_usr1)
        faulthandler.register(signal.SIGUSR1, file=oracle, all_threads=True,
                              chain=True)
    signal.signal(signal.SIGUSR2, on_usr2)

    # Only the main thread may take SIGUSR1 and SIGUSR2: a process-directed
    # signal can land on any thread that does not block it (the kernel
    # prefers the main thread, but not always, e.g. right after a ptrace
    # detach).  faulthandler marks the thread that runs its handler as
    # "Current thread", and before 3.10 a Python handler tripped from another
    # thread may not wake the main thread at all.  Threads inherit the mask
    # of the thread that creates them, so block both before starting any.
    own = {signal.SIGUSR1, signal.SIGUSR2}
    signal.pthread_sigmask(signal.SIG_BLOCK, own)
    for name in opts["scenario"].split(","):
        if name:
            SCENARIOS[name]()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, own)

    notify = None
    if opts["notify"]:
        notify = [int(x) for x in opts["notify"].split(":")]
    elif not opts["main_blocked"]:
        sys.exit("target_threads.py: --notify PID:SIGNAL is required")
    serve_forever(fd, opts["main_blocked"], notify)

    for thread in THREADS:
        thread.join()
    for done in RAW_DONE:
        done.acquire()
    if oracle is not None:
        faulthandler.unregister(signal.SIGUSR1)
        oracle.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
