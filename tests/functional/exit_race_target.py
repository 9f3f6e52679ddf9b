# -*- coding: utf-8 -*-
"""Target program for the exit-race tests (test_attach.py, test_stress.py).

A Python program that ends, in one of several ways, while pyfault dumps it.
It starts PARKED threads blocked in a read and two workers, writes b"r" on
--ready-fd, then waits for --go-fd to read EOF (so do the workers where
they have a part to play), when it ends as --how says:

  sys.exit        the main thread raises SystemExit(0): the interpreter
                  finalizes, then exit_group() from the main thread
  os._exit        the main thread calls os._exit(0): exit_group() at once
  worker-os._exit a worker thread calls os._exit(0): exit_group() from a
                  thread that is not the thread group leader
  main-returns    the main thread returns while the two non-daemon workers
                  run on for 0-5 ms; the interpreter waits for them, then
                  exits
  leader-exits    the main thread ends alone (pthread_exit) and the parked
                  threads return while the two workers run on for 0-5 ms;
                  the process ends with its last thread
  signal          nothing: the driver kills it (SIGKILL, SIGTERM)

The exit status is 0 for every way but "signal".  Runs unmodified on
CPython 2.7 and 3.6+.
"""
import ctypes
import os
import random
import sys
import threading
import time

# Threads parked in a blocking read: the more threads pyfault has to stop,
# the wider the window in which the process can end while some are held.
PARKED = 12
HOWS = ("sys.exit", "os._exit", "worker-os._exit", "main-returns",
        "leader-exits", "signal")


def parked(read_fd):
    os.read(read_fd, 1)


def wait_for_go(go_fd):
    while os.read(go_fd, 1):
        pass


def run_on(go_fd, park_fd, how):
    """A worker: waits for the go signal, then ends as how says.  In the
    other ways it stays parked: a daemon thread running Python while 2.7
    finalizes would print an exception."""
    if how not in ("worker-os._exit", "main-returns", "leader-exits"):
        parked(park_fd)
        return
    wait_for_go(go_fd)
    if how == "worker-os._exit":
        os._exit(0)
    # Runs on in Python for a while after the main thread has ended.
    deadline = time.time() + random.uniform(0, 0.005)
    while time.time() < deadline:
        pass


def main(argv):
    opts = dict(zip(argv[::2], argv[1::2]))
    how = opts["--how"]
    ready_fd, go_fd = int(opts["--ready-fd"]), int(opts["--go-fd"])
    if how not in HOWS:
        sys.exit("exit_race_target.py: unknown --how %r" % how)
    park_r, park_w = os.pipe()
    threads = [threading.Thread(target=parked, args=(park_r,))
               for _ in range(PARKED)]
    threads += [threading.Thread(target=run_on, args=(go_fd, park_r, how))
                for _ in range(2)]
    for index, thread in enumerate(threads):
        # Only the workers that run on keep the interpreter alive.
        thread.daemon = index < PARKED or how != "main-returns"
    for thread in threads:
        thread.start()
    os.write(ready_fd, b"r")
    wait_for_go(go_fd)
    if how == "sys.exit":
        sys.exit(0)
    if how == "os._exit":
        os._exit(0)
    if how == "leader-exits":
        # Every thread ends on its own, the parked ones at once; ctypes
        # lets the GIL go around the call, so the workers run on.
        os.close(park_w)
        ctypes.CDLL(None).pthread_exit(None)
    if how == "worker-os._exit":
        # The worker ends the process; the main thread waits for it.
        threads[PARKED].join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
