# -*- coding: utf-8 -*-
"""Target program for tests/functional/test_stress.py and bench/stress_bench.py.

Twenty threads work until told to stop, each in blocking system calls,
while others are created and end all the time; at the end the program
checks everything it computed and every call it made:

  * 4 writer/reader pairs: the writer sends a sequence of 4-byte numbers
    through a pipe, sleeping in nanosleep() between two; the reader blocks
    in read() and checks it gets every number once, in order;
  * 2 threads in poll() and 2 in select() on a pipe nobody writes, with a
    3 ms timeout: each call must time out, never return early;
  * 2 threads in a raw FUTEX_WAIT with a 3 ms timeout: ETIMEDOUT only;
  * 2 threads in threading.Condition.wait(0.003), which must time out;
  * 2 threads that increment a counter under a contended threading.Lock
    (futex locks), each counting its own increments;
  * 2 threads that each start three short-lived threads at a time and join
    them, checking what each computed.

The system calls are made through ctypes, straight to libc: Python's own
wrappers retry on EINTR (PEP 475) and would hide it.  Nothing sends this
program a signal, so an EINTR, a short count or an early return is a
failure that something from outside caused.

Usage: stress_target.py --ready-fd FD --stop-fd FD [--control]
b"r" on the ready FD once every thread runs; the program stops when the
stop FD reads EOF, checks, prints one line on stdout:
    result ok|FAILED iterations=N threads=N eintr=N early=N mismatches=N
and exits 0 if everything was right, 1 otherwise, with the first failures
on stderr.  --control: a self-test of the checks; the main thread sends
SIGUSR2 (a Python handler without SA_RESTART, as a real one would be) to
every worker many times, then writes b"c" on the ready FD: the counts of
EINTR must then be above zero.
"""
import ctypes
import os
import signal
import sys
import threading
import time

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
LIBC.read.restype = ctypes.c_ssize_t
LIBC.syscall.restype = ctypes.c_long
SYS_FUTEX = 202                 # x86_64
FUTEX_WAIT_PRIVATE = 128
EINTR = 4
ETIMEDOUT = 110
TIMEOUT_S = 0.003


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class Pollfd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short),
                ("revents", ctypes.c_short)]


STOP = threading.Event()


class Tally:
    """What one worker saw."""

    def __init__(self, name):
        self.name = name
        self.iterations = 0
        self.eintr = 0
        self.early = 0
        self.mismatches = 0
        self.notes = []

    def bad(self, kind, text):
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.notes) < 3:
            self.notes.append(text)


TALLIES = []
THREADS_STARTED = [0]


def nanosleep(seconds):
    ts = Timespec(0, int(seconds * 1e9))
    return LIBC.nanosleep(ctypes.byref(ts), None), ctypes.get_errno()


def check_timed(tally, what, started, rc, err, expect_rc, expect_err=0):
    elapsed = time.monotonic() - started
    tally.iterations += 1
    if rc == -1 and err == EINTR:
        tally.bad("eintr", "%s: EINTR" % what)
    elif rc != expect_rc or (expect_err and err != expect_err):
        tally.bad("mismatches", "%s returned %d (errno %d)" % (what, rc, err))
    elif elapsed < TIMEOUT_S:
        tally.bad("early", "%s returned after %.6f s" % (what, elapsed))


def writer(tally, fd):
    n = 0
    while not STOP.is_set():
        os.write(fd, n.to_bytes(4, "little"))
        n += 1
        tally.iterations += 1
        rc, err = nanosleep(0.001)
        if rc != 0:
            tally.bad("eintr" if err == EINTR else "mismatches",
                      "nanosleep: %d errno %d" % (rc, err))
    os.write(fd, (0xFFFFFFFF).to_bytes(4, "little"))
    tally.sent = n


def reader(tally, fd, partner):
    buf = ctypes.create_string_buffer(4)
    expected = 0
    while True:
        rc = LIBC.read(fd, buf, 4)
        err = ctypes.get_errno()
        if rc == -1 and err == EINTR:
            tally.bad("eintr", "read: EINTR")
            continue
        if rc != 4:
            tally.bad("mismatches", "read returned %d (errno %d)" % (rc, err))
            return
        value = int.from_bytes(buf.raw, "little")
        if value == 0xFFFFFFFF:
            break
        if value != expected:
            tally.bad("mismatches", "read %d, expected %d" % (value, expected))
        expected = value + 1
        tally.iterations += 1
    tally.received = expected
    tally.partner = partner


def poller(tally, fd):
    while not STOP.is_set():
        pfd = Pollfd(fd, 1, 0)          # POLLIN
        started = time.monotonic()
        rc = LIBC.poll(ctypes.byref(pfd), 1, int(TIMEOUT_S * 1000))
        check_timed(tally, "poll", started, rc, ctypes.get_errno(), 0)


def selecter(tally, fd):
    while not STOP.is_set():
        fds = ctypes.create_string_buffer(128)      # an fd_set
        fds[fd // 8] = 1 << (fd % 8)
        tv = Timeval(0, int(TIMEOUT_S * 1e6))
        started = time.monotonic()
        rc = LIBC.select(fd + 1, fds, None, None, ctypes.byref(tv))
        check_timed(tally, "select", started, rc, ctypes.get_errno(), 0)


def futex_waiter(tally):
    word = ctypes.c_int(0)
    while not STOP.is_set():
        ts = Timespec(0, int(TIMEOUT_S * 1e9))
        started = time.monotonic()
        rc = LIBC.syscall(ctypes.c_long(SYS_FUTEX), ctypes.byref(word),
                          ctypes.c_long(FUTEX_WAIT_PRIVATE), ctypes.c_long(0),
                          ctypes.byref(ts), None, ctypes.c_long(0))
        check_timed(tally, "futex", started, rc, ctypes.get_errno(), -1,
                    ETIMEDOUT)


def cond_waiter(tally):
    cond = threading.Condition()
    while not STOP.is_set():
        with cond:
            started = time.monotonic()
            notified = cond.wait(TIMEOUT_S)
        check_timed(tally, "Condition.wait", started, 0 if not notified
                    else 1, 0, 0)


COUNTER = [0]
COUNTER_LOCK = threading.Lock()


def incrementer(tally):
    while not STOP.is_set():
        with COUNTER_LOCK:
            COUNTER[0] += 1
            # Holding the lock across a blocking call makes the other
            # thread wait on the lock's futex.
            nanosleep(0.0005)
        tally.iterations += 1


def square_sum(k, out, index):
    out[index] = sum(i * i for i in range(k))


def churner(tally):
    while not STOP.is_set():
        ks = [50 + (tally.iterations + j) % 17 for j in range(3)]
        out = [None] * 3
        threads = [threading.Thread(target=square_sum, args=(k, out, j))
                   for j, k in enumerate(ks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        THREADS_STARTED[0] += 3
        for k, got in zip(ks, out):
            if got != (k - 1) * k * (2 * k - 1) // 6:
                tally.bad("mismatches", "sum of squares below %d: %r" % (
                    k, got))
        tally.iterations += 1
        nanosleep(0.002)


def start(name, func, *args):
    tally = Tally(name)
    TALLIES.append(tally)
    thread = threading.Thread(target=func, name=name, args=(tally,) + args)
    thread.start()
    return thread, tally


def on_usr2(signo, frame):
    pass


def main(argv):
    ready_fd = int(argv[argv.index("--ready-fd") + 1])
    stop_fd = int(argv[argv.index("--stop-fd") + 1])
    control = "--control" in argv
    signal.signal(signal.SIGUSR2, on_usr2)
    silent_r, silent_w = os.pipe()      # never written: timed waits
    threads = []
    pairs = []
    for n in range(4):
        r, w = os.pipe()
        wt, wtally = start("writer-%d" % n, writer, w)
        rt, rtally = start("reader-%d" % n, reader, r, wtally)
        threads += [wt, rt]
        pairs.append((wtally, rtally))
    for n in range(2):
        threads.append(start("poll-%d" % n, poller, silent_r)[0])
        threads.append(start("select-%d" % n, selecter, silent_r)[0])
        threads.append(start("futex-%d" % n, futex_waiter)[0])
        threads.append(start("cond-%d" % n, cond_waiter)[0])
        threads.append(start("lock-%d" % n, incrementer)[0])
        threads.append(start("churn-%d" % n, churner)[0])
    assert len(threads) == 20
    os.write(ready_fd, b"r")
    if control:
        for _ in range(200):
            for t in threads:
                if t.is_alive():
                    signal.pthread_kill(t.ident, signal.SIGUSR2)
            time.sleep(0.001)
        os.write(ready_fd, b"c")
    while os.read(stop_fd, 64):
        pass
    STOP.set()
    for t in threads:
        t.join()

    lock_tallies = [t for t in TALLIES if t.name.startswith("lock-")]
    mismatches = sum(t.mismatches for t in TALLIES)
    notes = [n for t in TALLIES for n in t.notes]
    for wtally, rtally in pairs:
        if getattr(rtally, "received", None) != wtally.sent:
            mismatches += 1
            notes.append("%s received %r of %d numbers" % (
                rtally.name, getattr(rtally, "received", None), wtally.sent))
    if COUNTER[0] != sum(t.iterations for t in lock_tallies):
        mismatches += 1
        notes.append("counter %d, increments %d" % (
            COUNTER[0], sum(t.iterations for t in lock_tallies)))
    eintr = sum(t.eintr for t in TALLIES)
    early = sum(t.early for t in TALLIES)
    ok = not (eintr or early or mismatches)
    os.write(1, ("result %s iterations=%d threads=%d eintr=%d early=%d "
                 "mismatches=%d\n" % (
                     "ok" if ok else "FAILED",
                     sum(t.iterations for t in TALLIES),
                     20 + THREADS_STARTED[0], eintr, early,
                     mismatches)).encode())
    for note in notes[:10]:
        os.write(2, ("stress_target: %s\n" % note).encode())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
