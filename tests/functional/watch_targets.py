# -*- coding: utf-8 -*-
"""Target programs for tests/functional/test_watch.py.

Runs unmodified on CPython 2.7 and 3.6 to 3.14 and imports only
standard-library modules, so that 3.10+ faulthandler appends no "Extension
modules" line to its fatal-error dumps, except with crash --extensions,
which asks for one.  2.7 has no faulthandler: there the oracle run is
`watch_targets.py crash KIND ... --backport-oracle`, where the program
writes on stderr, just before it faults and on the faulting line, what the
faulthandler backport would (backport_format.py); --fh-current-only does the
same for all_threads=False.
Each scenario runs twice: once as the oracle (under `python -X faulthandler`,
or arming faulthandler.dump_traceback_later itself) and once under
pyfault-watch without faulthandler; the driver compares the two outputs.

    watch_targets.py crash KIND [--in-thread] [--busy] [--extensions]
                           [--threads N] [--no-lines] [--after-children]
        KIND: segv (ctypes.string_at(0)), fpe, ill (signal.raise_signal),
        abrt (os.abort()), bus (a page of a mapping of a file truncated after
        mmap).  Parks two threads in nested calls, optionally starts a thread
        spinning in pure Python (--busy), then faults from a few nested calls
        in the main thread, or (--in-thread) in a thread of its own.
        --extensions: the standard extension module _json also appears in
        sys.modules under names outside the standard library, so that 3.10+
        faulthandler ends its dump with "Extension modules: ... (total: 4)".
        --no-lines: process_batch's code has no line numbers (3.11+).
        --threads N: N more threads parked, started after the two others
        and before the faulting one (--in-thread): with N = 105, the main
        thread is past faulthandler's 100 threads, the faulting thread of
        --in-thread the newest, first.
        --after-children: first runs a shell that runs `uname -p` 20 times
        (2.7's `import platform` runs it once), and waits for it: the
        program is alone again when it faults.
    watch_targets.py timeout [ORACLE_SECONDS]
        Parks threads, writes READY on stderr and blocks reading stdin; exits
        0 at EOF.  With ORACLE_SECONDS it arms, after READY,
        faulthandler.dump_traceback_later(ORACLE_SECONDS, exit=True).
    watch_targets.py exit CODE | kill SIGNAME | ignore SIGNAME |
                     handle SIGNAME | alarm | sigchld | child-crash
        Exit status and signal fidelity (see the functions below).
    watch_targets.py crash KIND --fh-current-only ...
        The oracle of --current-thread-only: the program itself calls
        faulthandler.enable(all_threads=False) (run without -X faulthandler).
    watch_targets.py signal SIGNAME [--in-thread | --to-parked] [--handler]
                            [--oracle [--chain] [--current-only]]
        Parks threads, then sends itself SIGNAME from nested calls: with
        signal.raise_signal() in the main thread, or (--in-thread) with
        signal.pthread_kill(threading.get_ident(), ...) in a thread of its
        own: both are thread-directed, so the receiving thread is known.
        --to-parked: the main thread sends it to a "receiver" thread parked
        in sigsuspend() (through ctypes: no retry, no race: the signal is
        blocked until then), which does not hold the GIL, and, on the same
        line, waits until stdin is at EOF or the receiver says that
        sigsuspend() returned, i.e. that a handler of the program has run
        to its end (faulthandler's, or Python's after it or after
        pyfault-watch's dump with --chain).
        --handler installs a Python handler (counting) first; --oracle then
        calls faulthandler.register(SIGNAME, all_threads=not
        --current-only, chain=--chain), which replaces that handler (chain
        calls it after the dump).  Prints how often the handler ran, exits 0.
    watch_targets.py request --notify PID:SIGNO [--blocked]
                             [--oracle [--current-only]]
        Parks threads; SIGUSR1 and SIGUSR2 reach the main thread only and
        both end the program (exit 0).  The main thread writes READY on
        stderr, then either spins holding the GIL on one line that also
        sends SIGNO to PID once (os.kill keeps the GIL: "I hold it for
        good"), or (--blocked) blocks in lock.acquire() on the line that
        writes READY.  --oracle: faulthandler.register(SIGUSR1,
        all_threads=not --current-only, chain=True) before.
    watch_targets.py mp-crash METHOD [--oracle]
        A multiprocessing child (start method fork or spawn) reports its pid
        and thread, writes "about to crash" on stderr and faults (segv) from
        nested calls; the parent waits for it, reports its exit code and
        exits 0.  --oracle: the child calls faulthandler.enable() first.
        With spawn, the parent also ends the resource tracker that
        multiprocessing starts, so that no process outlives the program.
    watch_targets.py tty CODE
        For a terminal: reports its pid, writes READY on stdout, waits for a
        line on stdin (or KeyboardInterrupt, with no race), echoes it and
        exits CODE.

Every program writes "pid N" and, for each of its threads, "thread NAME
0x<ident>" on stdout (os.write: nothing is lost to buffering when it dies);
the ident is what faulthandler prints for that thread, so the driver can
replace the values by the names in both runs.

Why a dump cannot depend on timing:
  * a parked thread blocks in C (lock.acquire) on the same source line as its
    readiness signal ("ready.release(); gate.acquire()"), and the thread that
    started it waits for that signal, so its frames are fixed before anything
    else happens;
  * the busy thread spins on a single line that also sends its readiness
    signal, so whatever instruction it is at, its frames are the same; it
    calls nothing after its first iteration;
  * the faulting thread faults in C holding the GIL; a main thread that
    waits for a faulting thread does so in C, on one line;
  * the timeout scenario's main thread writes READY, arms the oracle's timer
    and blocks, all C calls on one line (in the pyfault-watch run `arm` is
    int(), a C no-op), so its frames are the same once READY is out.
"""
import functools
import os
import select
import signal
import sys
import threading

if sys.version_info[0] == 2:
    # No faulthandler in 2.7: with --backport-oracle (or --fh-current-only)
    # the program writes what the backport would before it faults
    # (backport_format.py).
    import thread as _thread
    import backport_format
    faulthandler = None
else:
    import _thread
    import faulthandler

READY = b"target: ready\n"
IDENTS = []         # (name, ident) of every thread, in creation order
STARTED = [_thread.get_ident()]   # thread idents, oldest state first


def out(text):
    os.write(1, text.encode())


def err(text):
    os.write(2, text.encode())


def note_ident(name):
    IDENTS.append((name, _thread.get_ident()))


def report_idents():
    out("pid %d\n" % os.getpid())
    for name, ident in IDENTS:
        out("thread %s 0x%016x\n" % (name, ident))


if hasattr(signal, "raise_signal"):
    raise_signal = signal.raise_signal
elif not hasattr(signal, "pthread_kill"):
    # 2.7: raise(3) itself, a C call that leaves no frame.
    import ctypes
    raise_signal = getattr(ctypes.CDLL(None), "raise")
else:
    def raise_signal(signo):
        # 3.6, 3.7: no signal.raise_signal().  pthread_kill() of the calling
        # thread is the same thread-directed signal and runs pending Python
        # handlers too; this frame shows in both runs alike.
        signal.pthread_kill(threading.get_ident(), signo)


def no_core():
    # The programs crash on purpose; their cores are of no use, except to
    # test_core.py, which asks for them with PYFAULT_KEEP_CORE=1.  (The
    # driver checks that pyfault-watch itself does not dump core.)
    if os.environ.get("PYFAULT_KEEP_CORE") == "1":
        return
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))


def new_lock(locked):
    lock = _thread.allocate_lock()
    if locked:
        lock.acquire()
    return lock


# --------------------------------------------------------------- parking ----

def park(ready, gate):
    ready.release(); gate.acquire()  # noqa: E702  (one line on purpose)


def parse_headers(ready, gate):
    park(ready, gate)


def handle_request(ready, gate):
    parse_headers(ready, gate)


def poll_once(ready, gate):
    park(ready, gate)


def io_loop(ready, gate):
    poll_once(ready, gate)


def spin(ready):
    told = 0
    while True: told = told or ready.release() or 1  # noqa: E701


def crunch_numbers(ready, gate):
    spin(ready)


def thread_main(name, func, ready, gate, args):
    note_ident(name)
    func(ready, gate, *args)


def start_thread(name, func, *args):
    """A threading.Thread (bootstrap frames in its stack), once parked."""
    ready = new_lock(True)
    gate = new_lock(True)
    thread = threading.Thread(target=thread_main, name=name,
                              args=(name, func, ready, gate, args))
    thread.daemon = True
    thread.start()
    STARTED.append(thread.ident)
    ready.acquire()
    return gate


def start_raw_thread(name, func):
    """A _thread thread (no bootstrap frames), once parked."""
    ready = new_lock(True)
    gate = new_lock(True)
    STARTED.append(_thread.start_new_thread(
        thread_main, (name, func, ready, gate, ())))
    ready.acquire()
    return gate


def park_helpers():
    start_thread("request-handler", handle_request)
    start_raw_thread("io-loop", io_loop)


def park_more(count):
    """count more parked threads, so that, with the main thread and the
    helpers, faulthandler's limit of 100 threads is passed: the main
    thread, the oldest, is past it."""
    for n in range(count):
        start_raw_thread("parked-%d" % n, park)


# ---------------------------------------------------------------- faults ----

FATAL_NAMES = {"segv": "Segmentation fault",
               "fpe": "Floating point exception",
               "ill": "Illegal instruction", "abrt": "Aborted",
               "bus": "Bus error"}


class Context:
    ctypes = None
    mapping = None
    segv = None
    # Called on the line that faults, just before: a no-op, except for the
    # 2.7 oracle.
    before_fault = int


def backport_oracle(ctx, kind, all_threads):
    def write_dump():
        caller = sys._getframe(1)
        if all_threads:
            text = backport_format.all_threads(STARTED, _thread.get_ident(),
                                               caller)
        else:
            text = backport_format.current_thread(caller)
        err("Fatal Python error: %s\n\n%s" % (FATAL_NAMES[kind], text))
    ctx.before_fault = write_dump


def prepare(kind):
    ctx = Context()
    if kind == "segv":
        import ctypes
        ctx.ctypes = ctypes
        # 2.7's string_at() is a Python function: memset() faults in C
        # without a frame of its own.
        ctx.segv = (functools.partial(ctypes.memset, 0, 0, 1)
                    if faulthandler is None
                    else functools.partial(ctypes.string_at, 0))
    elif kind == "bus":
        import mmap
        import tempfile
        size = mmap.PAGESIZE * 2
        backing = tempfile.TemporaryFile()
        backing.write(b"x" * size)
        backing.flush()
        ctx.mapping = mmap.mmap(backing.fileno(), size)
        backing.truncate(0)     # the mapped pages are past the end now
        ctx.backing = backing
    return ctx


def fault_segv(ctx):
    ctx.before_fault(); return ctx.segv()  # noqa: E702


def fault_fpe(ctx):
    ctx.before_fault(); raise_signal(signal.SIGFPE)  # noqa: E702


def fault_ill(ctx):
    ctx.before_fault(); raise_signal(signal.SIGILL)  # noqa: E702


def fault_abrt(ctx):
    ctx.before_fault(); os.abort()  # noqa: E702


def fault_bus(ctx):
    ctx.before_fault(); return ctx.mapping[0]  # noqa: E702


FAULTS = {"segv": fault_segv, "fpe": fault_fpe, "ill": fault_ill,
          "abrt": fault_abrt, "bus": fault_bus}


def process_item(ctx, kind):
    return FAULTS[kind](ctx)


def process_batch(ctx, kind):
    return process_item(ctx, kind)


def run_job(ctx, kind):
    return process_batch(ctx, kind)


def strip_lines(func):
    """func's code with no line for any instruction: each entry of the
    3.11+ location table is PY_CODE_LOCATION_INFO_NONE (code 15) for 8
    code units.  faulthandler prints "line ???" for its frame; from 3.14.1
    on, "<invalid frame>" after it, and no older frame."""
    units = len(func.__code__.co_code) // 2
    table = bytes([0x80 | 15 << 3 | 7]) * ((units + 7) // 8)
    func.__code__ = func.__code__.replace(co_linetable=table)


def crasher(ready, gate, ctx, kind):
    park(ready, gate)
    run_job(ctx, kind)


def wait_for_crasher(gate, done):
    gate.release(); done.acquire()  # noqa: E702


# Non-ASCII names are escaped by faulthandler (\xe9, \U0001f600).
FAKE_EXTENSIONS = ["pyfault_ext_a", "pyfault.ext.dotted",
                   u"pyfault_ext_\u00e9", u"pyfault_ext_\U0001F600"]


def crash(argv):
    kind = argv[0]
    if "--after-children" in argv:
        import subprocess
        subprocess.call(["sh", "-c", "i=0; while [ $i -lt 20 ]; do "
                         "uname -p; i=$((i + 1)); done >/dev/null"])
    ctx = prepare(kind)
    if faulthandler is None:
        if "--backport-oracle" in argv or "--fh-current-only" in argv:
            backport_oracle(ctx, kind, "--fh-current-only" not in argv)
    elif "--fh-current-only" in argv:
        faulthandler.enable(all_threads=False)
    if "--extensions" in argv:
        import _json
        for name in FAKE_EXTENSIONS:
            sys.modules[name] = _json
    note_ident("main")
    park_helpers()
    if "--no-lines" in argv:
        strip_lines(process_batch)
    if "--threads" in argv:
        park_more(int(argv[argv.index("--threads") + 1]))
    if "--busy" in argv:
        start_thread("busy", crunch_numbers)
    if "--in-thread" in argv:
        gate = start_thread("crasher", crasher, ctx, kind)
        report_idents()
        err("target: about to crash\n")
        wait_for_crasher(gate, new_lock(True))
    else:
        report_idents()
        err("target: about to crash\n")
        run_job(ctx, kind)
    out("target: survived the %s fault\n" % kind)
    return 99


# ------------------------------------------------------- --signal SIGNAL ----

def send_to_self(ctx):
    # Thread-directed: raise() is tgkill() of the calling thread.  In the
    # main thread, raise_signal() then runs pending Python handlers itself.
    raise_signal(ctx.signo)


def send_to_own_thread(ctx):
    signal.pthread_kill(threading.get_ident(), ctx.signo)


FAULTS["raise"] = send_to_self
FAULTS["pthread-kill"] = send_to_own_thread


def sender(ready, gate, ctx, kind, done):
    park(ready, gate)
    run_job(ctx, kind)
    done.release()


def suspend_then_tell(ready, sigsuspend, empty, after):
    ready.release(); sigsuspend(empty); os.write(after, b"x")  # noqa: E702


def receive_signal(ready, gate, signo, after):
    import ctypes
    sigsuspend = ctypes.CDLL(None, use_errno=True).sigsuspend
    empty = ctypes.create_string_buffer(128)        # an empty sigset_t
    signal.pthread_sigmask(signal.SIG_BLOCK, {signo})
    suspend_then_tell(ready, sigsuspend, empty, after)


def signal_and_wait(ident, signo, fds):
    signal.pthread_kill(ident, signo); select.select(fds, [], [])  # noqa: E702


def signal_self(argv):
    ctx = Context()
    ctx.signo = signum(argv[0])
    seen = []
    if "--handler" in argv:
        signal.signal(ctx.signo, lambda signo, frame: seen.append(signo))
    if "--oracle" in argv:
        faulthandler.register(ctx.signo,
                              all_threads="--current-only" not in argv,
                              chain="--chain" in argv)
    note_ident("main")
    park_helpers()
    if "--to-parked" in argv:
        after, told = os.pipe()
        start_thread("receiver", receive_signal, ctx.signo, told)
        report_idents()
        err("target: about to signal\n")
        signal_and_wait(dict(IDENTS)["receiver"], ctx.signo, [0, after])
        signal.pthread_kill(threading.main_thread().ident, 0)
    elif "--in-thread" in argv:
        done = new_lock(True)
        gate = start_thread("sender", sender, ctx, "pthread-kill", done)
        report_idents()
        err("target: about to signal\n")
        wait_for_crasher(gate, done)
        # A handler tripped in another thread runs in the main thread, at
        # the latest when it checks for signals: pthread_kill() does, and
        # signal 0 sends nothing.
        signal.pthread_kill(threading.main_thread().ident, 0)
    else:
        report_idents()
        err("target: about to signal\n")
        run_job(ctx, "raise")
    out("target: handler ran %d time(s)\n" % len(seen))
    return 0


# --------------------------------------------------------- SIGUSR1 request --

STOP = [False]
GATE = []


def on_stop(signo, frame):
    STOP[0] = True
    for gate in GATE:
        try:
            gate.release()
        except RuntimeError:
            pass


def spin_holding_gil(stop, pid, signo):
    # os.write() releases the GIL, os.kill() keeps it: the signal says "the
    # main thread holds the GIL and spins on this line".
    err("target: ready\n")
    told = 0
    while not stop[0]: told = told or os.kill(pid, signo) or 1  # noqa: E701


def block_after_ready(gate):
    os.write(2, READY); gate.acquire()  # noqa: E702


def wait_for_request(blocked, notify):
    if blocked:
        gate = new_lock(True)
        GATE.append(gate)
        block_after_ready(gate)
    else:
        spin_holding_gil(STOP, notify[0], notify[1])


def request(argv):
    notify = [int(x) for x in argv[argv.index("--notify") + 1].split(":")]
    # No thread is ever forced to give the GIL away while parked.
    sys.setswitchinterval(100.0)
    for signo in (signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signo, on_stop)
    if "--oracle" in argv:
        faulthandler.register(signal.SIGUSR1,
                              all_threads="--current-only" not in argv,
                              chain=True)
    # Process-directed signals must land on the main thread: threads
    # inherit the mask of the thread that starts them.
    own = {signal.SIGUSR1, signal.SIGUSR2}
    signal.pthread_sigmask(signal.SIG_BLOCK, own)
    note_ident("main")
    park_helpers()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, own)
    report_idents()
    wait_for_request("--blocked" in argv, notify)
    out("target: stopped\n")
    return 0


# --------------------------------------------------------- multiprocessing --

def mp_child(oracle):
    if oracle:
        faulthandler.enable()
    out("pid %d\nthread child 0x%016x\n" % (os.getpid(), _thread.get_ident()))
    err("target: about to crash\n")
    run_job(prepare("segv"), "segv")


def mp_crash(argv):
    import multiprocessing
    note_ident("main")
    report_idents()
    context = multiprocessing.get_context(argv[0])
    child = context.Process(target=mp_child, args=("--oracle" in argv,))
    child.start()
    child.join()
    if argv[0] != "fork":
        # The resource tracker spawn starts would outlive the program.
        try:
            from multiprocessing import resource_tracker
            resource_tracker._resource_tracker._stop()
        except ImportError:
            # 3.6, 3.7: the semaphore tracker, which has no _stop() yet;
            # it exits at EOF on its pipe.
            from multiprocessing import semaphore_tracker
            tracker = semaphore_tracker._semaphore_tracker
            if tracker._fd is not None:
                os.close(tracker._fd)
                os.waitpid(tracker._pid, 0)
    out("target: child exit code %s\n" % child.exitcode)
    return 0


# ------------------------------------------------------------------ tty ----

def tty(argv):
    # Ctrl-C may come as soon as READY is out, before read() blocks: a
    # caught signal then wakes select() through the wakeup fd, and stdin
    # is read only once it has a line.
    wakeup, tripped = os.pipe()
    os.set_blocking(tripped, False)
    signal.set_wakeup_fd(tripped)
    out("pid %d\n" % os.getpid())
    out("target: ready\n")
    while 0 not in select.select([0, wakeup], [], [])[0]:
        os.read(wakeup, 512)    # KeyboardInterrupt at the latest here
    line = os.read(0, 1024)
    out("target: got %r\n" % line.strip().decode())
    return int(argv[0])


# --------------------------------------------------------------- timeout ----

def serve(arm):
    os.write(2, READY); arm(); os.read(0, 1)  # noqa: E702


def timeout(argv):
    note_ident("main")
    park_helpers()
    report_idents()
    arm = int
    if argv:
        arm = functools.partial(faulthandler.dump_traceback_later,
                                float(argv[0]), exit=True)
    serve(arm)
    return 0


# -------------------------------------------------------------- fidelity ----

def signum(name):
    return getattr(signal, name)


def exit_with(argv):
    out("target: exiting with %s\n" % argv[0])
    err("target: message on stderr\n")
    return int(argv[0])


def kill_self(argv):
    out("target: sending myself %s\n" % argv[0])
    os.kill(os.getpid(), signum(argv[0]))
    out("target: survived %s\n" % argv[0])
    return 99


def ignore(argv):
    signal.signal(signum(argv[0]), signal.SIG_IGN)
    raise_signal(signum(argv[0]))
    out("target: ignored %s\n" % argv[0])
    return 0


def handle(argv):
    seen = []
    signal.signal(signum(argv[0]), lambda signo, frame: seen.append(signo))
    raise_signal(signum(argv[0]))
    out("target: handled %s %d time(s)\n" % (argv[0], len(seen)))
    return 0


def alarm(argv):
    seen = []
    signal.signal(signal.SIGALRM, lambda signo, frame: seen.append(signo))
    signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
    while len(seen) < 5:
        signal.pause()      # a missed wake-up is made good by the next tick
    signal.setitimer(signal.ITIMER_REAL, 0)
    out("target: %d SIGALRM\n" % len(seen[:5]))
    return 0


def sigchld(argv):
    import subprocess
    import time
    seen = []
    signal.signal(signal.SIGCHLD, lambda signo, frame: seen.append(signo))
    first = subprocess.call(["true"])
    second = subprocess.call(["sh", "-c", "exit 7"])
    clock = getattr(time, "monotonic", time.time)     # 2.7: time.time
    deadline = clock() + 10
    while len(seen) < 2 and clock() < deadline:
        pass                # the handler runs between bytecodes
    out("target: children exited %d %d, SIGCHLD %s\n" % (
        first, second, "seen twice" if len(seen) >= 2 else
        "seen %d time(s)" % len(seen)))
    return 0


def child_crash(argv):
    import subprocess
    status = subprocess.call([sys.executable, "-c",
                              "import ctypes; ctypes.string_at(0)"])
    out("target: child status %d\n" % status)
    return 0


SCENARIOS = {"crash": crash, "timeout": timeout, "exit": exit_with,
             "kill": kill_self, "ignore": ignore, "handle": handle,
             "alarm": alarm, "sigchld": sigchld, "child-crash": child_crash,
             "signal": signal_self, "request": request, "mp-crash": mp_crash,
             "tty": tty}


def main(argv):
    no_core()
    if not argv or argv[0] not in SCENARIOS:
        sys.exit("watch_targets.py: unknown scenario %r" % argv[:1])
    return SCENARIOS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
