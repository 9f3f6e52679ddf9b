#!/usr/bin/env python3
"""A tiny "server" that deadlocks, for trying pyfault-attach on.

    python3 contrib/examples/hung_server.py [--ready-fifo PATH]

The main thread takes the database lock, hands a request to a worker thread
and waits for the worker to finish; the worker needs the database lock to
answer the request.  Neither ever goes on, the process uses no CPU, and only
a look at its threads' stacks tells why:

    src/pyfault-attach PID

It prints its PID and that hint on stderr.  With --ready-fifo PATH it also
writes "ready PID" to the FIFO once the worker is stuck (demo.sh waits for
that).  SIGTERM or SIGINT (Ctrl-C) stops it.  Runs on CPython 3.8 and later.
"""
import os
import signal
import sys
import threading

db_lock = threading.Lock()
replies = {}
reply_ready = threading.Event()


def acquire_db(request, on_blocked):
    on_blocked()
    with db_lock:                   # held by the main thread: blocks forever
        return "rows for %s" % request


def run_query(request, on_blocked):
    return acquire_db(request, on_blocked)


def handle_request(request, on_blocked):
    return run_query(request, on_blocked)


def worker_main(request, on_blocked):
    replies[request] = handle_request(request, on_blocked)
    reply_ready.set()


def wait_for_reply():
    reply_ready.wait()              # the worker waits for db_lock: deadlock


def commit_transaction(worker):
    wait_for_reply()


def serve(on_blocked):
    worker = threading.Thread(target=worker_main, name="worker",
                              args=("GET /orders/42", on_blocked))
    worker.daemon = True
    with db_lock:                   # begin the transaction ...
        worker.start()
        commit_transaction(worker)  # ... and wait for the worker inside it


def stop(signum, frame):
    sys.stderr.write("hung_server: stopped by signal %d\n" % signum)
    sys.exit(0)


def main(argv):
    fifo = None
    if len(argv) == 2 and argv[0] == "--ready-fifo":
        fifo = argv[1]
    elif argv:
        sys.stderr.write("usage: hung_server.py [--ready-fifo PATH]\n")
        return 2
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    pid = os.getpid()

    def on_blocked():
        sys.stderr.write("hung_server: PID %d is now hung\n" % pid)
        sys.stderr.write("hung_server: see where with: src/pyfault-attach %d\n"
                         % pid)
        sys.stderr.flush()
        if fifo:
            with open(fifo, "w") as f:
                f.write("ready %d\n" % pid)

    try:
        serve(on_blocked)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
