# -*- coding: utf-8 -*-
"""Target program for tests/functional/test_interpreters.py: threads
parked in subinterpreters (CPython 3.8+).

    interp_target.py --ready-fd FD --oracle-dir DIR --api API
                     --notify PID:SIGNAL [--main-blocked 1]

API is how the subinterpreters are made and run:
  low       the low-level module (_xxsubinterpreters on 3.8-3.12,
            _interpreters on 3.13+): two interpreters, each run by
            exec() in a thread of its own;
  public    concurrent.interpreters (3.14+): two interpreters, each
            Interpreter.exec() in a thread of its own;
  pool      concurrent.futures.InterpreterPoolExecutor (3.14+) with two
            workers, each running one task in its own interpreter;
  current   as low (3.12+, with the GIL), but the second thread spins in
            its interpreter, holding that interpreter's own GIL: the
            current thread of its section.

Each subinterpreter's thread parks in sub_inner() and, on the line where
it blocks (os.read() of a pipe that only the program's exit closes),
first writes DIR/sub-ID.txt: its interpreter's threads, rendered from
inside in faulthandler's format -- the oracle of pyfault-attach's section
for that interpreter.  The thread's own stack is taken with
sys._getframe(): sys._current_frames() holds the threads of every
interpreter keyed by thread id (a thread that runs in two interpreters
has one key), and called in a subinterpreter it corrupts the heap of
3.12.1, 3.13.0 and 3.14.7 ("free(): invalid pointer").  Then it writes
b"s" on a pipe of the main thread.

Once every subinterpreter thread is parked, the main thread writes b"r"
on FD and spins holding the GIL, after sending SIGNAL to PID: as in
target_threads.py, it is the GIL holder for pyfault and the thread that
runs faulthandler's SIGUSR1 handler, which writes DIR/main.txt (the
main interpreter's oracle) and then b"d" on FD.  Before 3.12 the
interpreters share one GIL, which a spinning main thread would keep from
the subinterpreters' threads on their way to read(): with --main-blocked
the main thread sends SIGNAL and sleeps in read() on the same line, and
no thread holds the GIL.  SIGUSR2 ends the
program: the main thread closes the pipes, the parked threads return,
and the program leaves with os._exit(0).
"""
import os
import signal
import sys
import threading

STOP = [False]
STOP_FDS = []     # the pipe a blocked main thread reads
READY_FD = [-1]


# ------------------------------------------- inside each subinterpreter ----

def render_thread(header, frame):
    """One thread as faulthandler's dump_traceback writes it."""
    lines = [header]
    while frame is not None:
        lines.append('  File "%s", line %d in %s\n' % (
            frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return "".join(lines)


def current_interpreter_id():
    if sys.version_info >= (3, 14):
        import concurrent.interpreters as interpreters
        return interpreters.get_current().id
    if sys.version_info >= (3, 13):
        import _interpreters
        return _interpreters.get_current()[0]
    import _xxsubinterpreters
    return int(_xxsubinterpreters.get_current())


def thread_header(thread_id, current):
    """faulthandler's header of the calling thread: 3.14 adds the OS
    thread name, which it reads as pthread_getname_np() does."""
    name = ""
    if sys.version_info >= (3, 14):
        path = "/proc/self/task/%d/comm" % threading.get_native_id()
        with open(path, "rb") as f:
            comm = f.read().rstrip(b"\n")
        if comm:
            name = " [%s]" % comm.decode("utf-8", "backslashreplace")
    return "%s 0x%016x%s (most recent call first):\n" % (
        "Current thread" if current else "Thread", thread_id, name)


def write_oracle(oracle_dir, ready_fd, spin=False):
    """The calling thread's interpreter has no other thread: its section
    is this thread, from its caller's frame down; a spinning one holds
    its interpreter's GIL, its own, and is that section's current thread.
    DIR/sub-ID.tid names its OS thread and what it does ("read" or
    "spin"), for the driver to wait until it does it."""
    iid = current_interpreter_id()
    text = render_thread(thread_header(threading.get_ident(), spin),
                         sys._getframe(1))
    with open(os.path.join(oracle_dir, "sub-%d.txt" % iid), "w") as f:
        f.write(text)
    with open(os.path.join(oracle_dir, "sub-%d.tid" % iid), "w") as f:
        f.write("%d %s\n" % (threading.get_native_id(),
                             "spin" if spin else "read"))
    os.write(ready_fd, b"s")


def sub_inner(oracle_dir, ready_fd, gate_fd):
    write_oracle(oracle_dir, ready_fd); os.read(gate_fd, 1)  # noqa: E702


def sub_spin(oracle_dir, ready_fd):
    # Spins on this line with no Python frame above it (int() is C).
    for _ in write_oracle(oracle_dir, ready_fd, True) or iter(int, 1): pass  # noqa: E701,E501


def sub_outer(oracle_dir, ready_fd, gate_fd, spin=False):
    if spin:
        sub_spin(oracle_dir, ready_fd)
    sub_inner(oracle_dir, ready_fd, gate_fd)
    return current_interpreter_id()


# --------------------------------------------------- the main interpreter --

SUB_CODE = """\
import sys
sys.path.insert(0, %(dir)r)
import interp_target
interp_target.sub_outer(%(oracle)r, %(ready)d, %(gate)d, %(spin)r)
"""


def checked(run, code):
    """The low-level exec() returns what the code raised."""
    failure = run(code)
    if failure is not None:
        sys.stderr.write("subinterpreter failed: %r\n" % (failure,))
        os._exit(3)


# Each thread makes the interpreter it runs: 3.12's low-level
# run_string() runs the code under the interpreter's first thread state,
# which records the id of the thread that made it.
def run_low(code):
    if sys.version_info >= (3, 13):
        import _interpreters
        iid = _interpreters.create()
        checked(lambda c: _interpreters.exec(iid, c), code)
    else:
        import _xxsubinterpreters
        iid = _xxsubinterpreters.create()
        checked(lambda c: _xxsubinterpreters.run_string(iid, c), code)


def run_public(code):
    import concurrent.interpreters as interpreters
    interpreters.create().exec(code)


def start_threads(api, oracle_dir, ready_fd, gate_fd):
    """Two subinterpreter threads; returns what ends them."""
    here = os.path.dirname(os.path.abspath(__file__))
    if api == "pool":
        from concurrent.futures import InterpreterPoolExecutor
        # sub_outer pickles by name as interp_target.sub_outer (not
        # __main__'s), which the workers import: their sys.path starts
        # with this directory too.
        pool = InterpreterPoolExecutor(max_workers=2)
        futures = [pool.submit(sub_outer, oracle_dir, ready_fd, gate_fd)
                   for _ in range(2)]
        return lambda: (pool.shutdown(wait=True),
                        [f.result() for f in futures])
    codes = [SUB_CODE % {"dir": here, "oracle": oracle_dir,
                         "ready": ready_fd, "gate": gate_fd,
                         "spin": api == "current" and n == 1}
             for n in range(2)]
    run = run_public if api == "public" else run_low
    threads = [threading.Thread(target=run, args=(codes[n],),
                                name="sub-runner-%d" % n) for n in range(2)]
    for thread in threads:
        thread.daemon = True
        thread.start()

    def end():
        # A spinning thread never ends: os._exit() takes it.
        for thread in threads[:1] if api == "current" else threads:
            thread.join()
    return end


def on_usr1(signum, frame):
    os.write(READY_FD[0], b"d")


def on_usr2(signum, frame):
    STOP[0] = True
    if STOP_FDS:
        os.write(STOP_FDS[1], b"x")
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def main(argv):
    # Not at the top: the subinterpreters import this module, and
    # faulthandler cannot be loaded in them.
    import faulthandler
    opts = dict(zip(argv[1::2], argv[2::2]))
    ready_fd = int(opts["--ready-fd"])
    READY_FD[0] = ready_fd
    oracle_dir = opts["--oracle-dir"]
    pid, signo = (int(x) for x in opts["--notify"].split(":"))
    sys.setswitchinterval(100.0)
    oracle = open(os.path.join(oracle_dir, "main.txt"), "w")
    signal.signal(signal.SIGUSR1, on_usr1)
    faulthandler.register(signal.SIGUSR1, file=oracle, all_threads=True,
                          chain=True)
    signal.signal(signal.SIGUSR2, on_usr2)
    # Only the main thread takes the signals (see target_threads.py).
    own = {signal.SIGUSR1, signal.SIGUSR2}
    signal.pthread_sigmask(signal.SIG_BLOCK, own)
    # The subinterpreters' threads read the gate pipe, write the sub-ready
    # bytes on their own pipe: the driver's pipe hears only b"r" and b"d".
    gate_r, gate_w = os.pipe()
    sub_r, sub_w = os.pipe()
    end = start_threads(opts["--api"], oracle_dir, sub_w, gate_r)
    for _ in range(2):
        if os.read(sub_r, 1) != b"s":
            sys.exit("interp_target.py: a subinterpreter failed")
    signal.pthread_sigmask(signal.SIG_UNBLOCK, own)
    os.write(ready_fd, b"r")
    if opts.get("--main-blocked"):
        STOP_FDS[:] = os.pipe()
        os.kill(pid, signo); os.read(STOP_FDS[0], 1)  # noqa: E702
    else:
        spin(pid, signo)
    os.close(gate_w)
    end()
    faulthandler.unregister(signal.SIGUSR1)
    oracle.close()
    # Not through finalization, which waits on the subinterpreters'
    # threading shutdown (3.12 hangs there).
    os._exit(0)


def spin(pid, signo):
    # os.kill() keeps the GIL (os.write() lets it go): the signal says
    # "the main thread holds the GIL and spins", on the line it spins on.
    told = 0
    while not STOP[0]: told = told or os.kill(pid, signo) or 1  # noqa: E701


if __name__ == "__main__":
    import interp_target
    interp_target.main(sys.argv)
