"""Target program for tests/functional/test_status.py.

Runs unmodified on CPython 3.7 to 3.14.  Four threads, each in a state
pyfault's --status must name:
  main     spins in pure Python holding the GIL ("holds the GIL, running");
  waiter   woken from sigwait() while main holds the GIL, so it waits for
           the GIL in take_gil() for good ("waiting for the GIL"; a
           free-threaded build has no GIL: it spins, "running");
  reader   blocked in os.read() on a pipe nobody writes ("in read()");
  selector blocked in select.select() on that pipe (select() or pselect6()
           in the kernel, as the C library implements it).
Why nothing moves once the driver is told: the switch interval is huge, so
the spinning main thread never gives the GIL up; the waiter was started
before, with SIGUSR1 blocked in every thread, parked in sigwait(); the main
thread wakes it with os.kill(), which keeps the GIL, then tells the driver
with another os.kill() and spins.  Each other thread signals readiness on
the line of its blocking call (a lock released, then the call), and main
waits for all of them before it goes on: with the huge switch interval a
thread that released its lock keeps the GIL until its call releases it.

Usage: status_target.py --ready-fd FD --notify PID:SIGNAL
  b"<name> <native id>\\n" per thread on FD, then b"r\\n"; then SIGNAL to
  PID once the main thread spins.  The program runs until killed.
"""
import _thread
import argparse
import ctypes
import os
import select
import signal
import sys
import threading


def native_id():
    """threading.get_native_id(), which 3.7 lacks: gettid(2)."""
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    return ctypes.CDLL(None, use_errno=True).syscall(186)  # SYS_gettid


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--notify", required=True)
    args = parser.parse_args()
    notify_pid, notify_sig = (int(x) for x in args.notify.split(":"))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    sys.setswitchinterval(100.0)
    rfd, _wfd = os.pipe()
    ready = _thread.allocate_lock()
    ids = {"main": native_id()}

    def spin():
        while True: pass  # noqa: E701

    def waiter():
        ids["waiter"] = native_id()
        ready.release(); signal.sigwait({signal.SIGUSR1})  # noqa: E702
        spin()

    def reader():
        ids["reader"] = native_id()
        ready.release(); os.read(rfd, 1)  # noqa: E702

    def selector():
        ids["selector"] = native_id()
        ready.release(); select.select([rfd], [], [])  # noqa: E702

    for func in (waiter, reader, selector):
        ready.acquire()
        threading.Thread(target=func, name=func.__name__, daemon=True).start()
        ready.acquire()
        ready.release()
    lines = "".join("%s %d\n" % item for item in sorted(ids.items()))
    os.write(args.ready_fd, (lines + "r\n").encode())
    os.kill(os.getpid(), signal.SIGUSR1); os.kill(notify_pid, notify_sig); spin()  # noqa: E702,E501


if __name__ == "__main__":
    main()
