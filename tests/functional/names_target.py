# -*- coding: utf-8 -*-
"""Target program for tests/functional/test_thread_names.py (CPython 2.7
and 3.6+).

    names_target.py --ready-fd FD --oracle FILE

Starts threads that threading names: one named at creation
("db-writer"), one left to threading's default name, one renamed after
it started (to a name with a quote, a backslash and, on 3.x, non-ASCII
characters), and one started with the low-level thread module, which
threading does not know.  Each parks in a lock.  Then the main thread
writes FILE from inside: a JSON object mapping each thread id of
threading.enumerate() to its name, then b"r" on FD, and sleeps in a read
of its stdin until the driver closes it.
"""
import json
import os
import sys
import threading

try:
    import _thread
except ImportError:         # 2.7
    import thread as _thread


def park(ready, gate):
    ready.release(); gate.acquire()  # noqa: E702


def start(name=None, rename=None):
    ready, gate = _thread.allocate_lock(), _thread.allocate_lock()
    ready.acquire()
    gate.acquire()
    thread = threading.Thread(target=park, args=(ready, gate), name=name)
    thread.daemon = True
    thread.start()
    ready.acquire()
    if rename is not None:
        thread.name = rename
    return gate


def start_raw():
    ready, gate = _thread.allocate_lock(), _thread.allocate_lock()
    ready.acquire()
    gate.acquire()
    _thread.start_new_thread(park, (ready, gate))
    ready.acquire()
    return gate


def main(argv):
    opts = dict(zip(argv[1::2], argv[2::2]))
    renamed = 'after "re\\named"'
    if sys.version_info >= (3,):
        renamed += u" \u00e9\u4e2d\U0001f600"
    gates = [start("db-writer"), start(), start("before", renamed),
             start_raw()]
    names = dict(("%d" % t.ident, t.name) for t in threading.enumerate())
    with open(opts["--oracle"], "w") as f:
        json.dump(names, f)
    os.write(int(opts["--ready-fd"]), b"r")
    # Until the driver closes stdin: then the parked threads go too.
    sys.stdin.read()
    for gate in gates:
        gate.release()


if __name__ == "__main__":
    main(sys.argv)
