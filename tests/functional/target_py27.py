# -*- coding: utf-8 -*-
"""Target program for tests/functional/test_attach.py on CPython 2.7.

2.7 has no faulthandler in its standard library, and its backport cannot be
installed here, so this program writes the oracle itself: on SIGUSR1 its
main thread renders every thread from sys._current_frames() as the
backport's register(SIGUSR1, all_threads=True) would (backport_format.py).

The command line and the protocol are those of target_threads.py (see its
docstring): b"r" on --ready-fd once ready, then SIGUSR1 writes the oracle
and b"d", SIGUSR2 ends the program.  Only the main thread takes the two
signals (the others block them through ctypes: 2.7's signal module has no
pthread_sigmask); the main thread either spins holding the GIL (the check
interval is made huge so that it never lets it go) or waits in
signal.pause(), where the Python handler runs with the frame that called
it: the same line pyfault saw.
"""
import ctypes
import os
import signal
import sys
import thread
import threading
import time
import types

import backport_format

STOP = [False]
GATES = []
WAKE_FDS = []
READY_FD = [-1]
ORACLE = [None]
STARTED = []        # idents in start_new_thread() order
RAW_DONE = []
THREADS = []
MAIN_IDENT = thread.get_ident()


# ----------------------------------------------------------- signal mask ----

LIBC = ctypes.CDLL(None, use_errno=True)
SIG_BLOCK, SIG_UNBLOCK = 0, 1


def set_mask(how, signos):
    sigset = ctypes.create_string_buffer(128)
    for signo in signos:
        byte, bit = divmod(signo - 1, 8)
        sigset[byte] = chr(ord(sigset[byte]) | (1 << bit))
    if LIBC.pthread_sigmask(how, sigset, None) != 0:
        sys.exit("target_py27.py: pthread_sigmask failed")


# --------------------------------------------------------------- parking ----

def new_lock(locked):
    lock = thread.allocate_lock()
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


def start_thread(name, func, *args):
    ready = new_lock(True)
    gate = new_lock(True)
    GATES.append(gate)
    t = threading.Thread(target=func, name=name, args=(ready, gate) + args)
    t.daemon = True
    t.start()
    STARTED.append(t.ident)
    THREADS.append(t)
    ready.acquire()


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
    STARTED.append(thread.start_new_thread(
        raw_bootstrap, (func, ready, gate, done, args)))
    ready.acquire()


# ------------------------------------------------------------- scenarios ----

def scenario_nested():
    start_thread("request-handler", handle_request)
    start_thread("io-loop", io_loop)
    start_raw_thread(flush_queue, 4)


def scenario_deep():
    start_thread("deep-recursion", recurse, 150)


# (function name, file name), as 2.7 strs: bytes, UTF-8 or not.
WEIRD = [
    ("\xc3\xb1and\xc3\xba_\xe6\x97\xa5\xe6\x9c\xac",
     "/opt/caf\xc3\xa9/\xc3\xb1and\xc3\xba.py"),
    ("f" + "x" * 598 + "y", ("/srv/" + "long_dir_" * 70)[:597] + ".py"),
    ("\xe6\x97\xa5" * 200, "/opt/" + "\xc3\xa9" * 300),
    ("latin1_\xff\xfe\x80", "/opt/not_utf8_\x80\xff.py"),
    ("ctl\tname\x7f\x01", "/opt/tab\there\x1b.py"),
]

CHAIN_SRC = (
    "# generated\n"
    "\n"
    "def placeholder(ready, gate, chain):\n"
    "    if chain:\n"
    "        chain[0](ready, gate, chain[1:])\n"
    "    else:\n"
    "        ready.release(); gate.acquire()\n"
)


def make_chain_func(name, filename, lines_before):
    namespace = {}
    exec(compile("\n" * lines_before + CHAIN_SRC, filename, "exec"),
         namespace)
    func = namespace["placeholder"]
    c = func.__code__
    func.__code__ = types.CodeType(
        c.co_argcount, c.co_nlocals, c.co_stacksize, c.co_flags, c.co_code,
        c.co_consts, c.co_names, c.co_varnames, c.co_filename, name,
        c.co_firstlineno, c.co_lnotab, c.co_freevars, c.co_cellvars)
    return func


def scenario_names():
    funcs = [make_chain_func(name, filename, index)
             for index, (name, filename) in enumerate(WEIRD)]
    start_thread("weird-chain", run_chain, funcs)
    start_raw_thread(run_chain, funcs[:1])


def scenario_noframe():
    before = thread._count()
    read_fd, write_fd = os.pipe()
    WAKE_FDS.append(write_fd)
    STARTED.append(thread.start_new_thread(os.read, (read_fd, 1)))
    # Blocked in read() once counted: it holds the GIL until then.
    while thread._count() <= before:
        time.sleep(0.001)


SCENARIOS = {
    "nested": scenario_nested,
    "deep": scenario_deep,
    "names": scenario_names,
    "noframe": scenario_noframe,
}


# ------------------------------------------------------------ main thread ---

def on_usr1(signum, frame):
    if ORACLE[0] is not None:
        ORACLE[0].write(backport_format.all_threads(
            [MAIN_IDENT] + STARTED, MAIN_IDENT, frame))
        ORACLE[0].flush()
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
        except thread.error:
            pass
    for fd in WAKE_FDS:
        os.write(fd, b"x")


def spin(fd, stop, pid, signo):
    # os.kill() keeps the GIL: the signal says "the main thread holds the
    # GIL and spins on this line".
    os.write(fd, b"r")
    told = 0
    while not stop[0]: told = told or os.kill(pid, signo) or 1  # noqa: E701


def block(fd, stop):
    os.write(fd, b"r")
    while not stop[0]: signal.pause()  # noqa: E701


def wait_for_stop(fd, main_blocked, notify):
    if main_blocked:
        block(fd, STOP)
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
            sys.exit("target_py27.py: bad argument %r" % arg)
        opts[arg[2:].replace("-", "_")] = argv[i + 1]
        i += 2
    if opts["ready_fd"] is None:
        sys.exit("target_py27.py: --ready-fd is required")
    return opts


def main(argv):
    opts = parse_args(argv)
    fd = int(opts["ready_fd"])
    READY_FD[0] = fd
    if opts["oracle"]:
        ORACLE[0] = open(opts["oracle"], "w")
    own = [signal.SIGUSR1, signal.SIGUSR2]
    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, on_usr2)
    for signo in own:
        signal.siginterrupt(signo, False)
    # Threads inherit the mask of the thread that starts them.
    set_mask(SIG_BLOCK, own)
    for name in opts["scenario"].split(","):
        if name:
            SCENARIOS[name]()
    set_mask(SIG_UNBLOCK, own)

    notify = None
    if opts["notify"]:
        notify = [int(x) for x in opts["notify"].split(":")]
    elif not opts["main_blocked"]:
        sys.exit("target_py27.py: --notify PID:SIGNAL is required")
    # The spinning main thread never lets the GIL go (2.7 drops it every
    # check interval, however briefly).
    sys.setcheckinterval(1 << 30)
    serve_forever(fd, opts["main_blocked"], notify)

    for t in THREADS:
        t.join()
    for done in RAW_DONE:
        done.acquire()
    if ORACLE[0] is not None:
        ORACLE[0].close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
