# -*- coding: utf-8 -*-
"""The text of faulthandler's 2.7 backport, rendered by a 2.7 program from
its own threads: the oracle of the 2.7 tests, since 2.7 has no faulthandler
in its standard library and the backport cannot be installed here.

What the backport (3.2, the last release; traceback.c) prints:
  * threads newest first (the order of the interpreter's thread states,
    which 2.7 links in when start_new_thread() is called), each headed
    "[Current thread|Thread] 0x%016x <NAME> (most recent call first):",
    NAME being the name (comm) of the thread that writes the dump, and
    "Current" marking that thread (PyGILState_GetThisThreadState());
    blocks separated by an empty line;
  * a thread without Python frames has its header and nothing else;
  * '  File "%s", line %d in %s', at most 100 frames then "  ...";
  * strs cut at 500 bytes then "..."; bytes 0x20-0x7e as they are, others
    as \\xNN, the backslashreplace its documentation promises (0xe9 as
    \\xe9).  The backport's own code on x86-64 sign-extends bytes >= 0x80
    (\\xffffffffffffffe9); pyfault writes what the documentation says.
  * a fatal signal: "Fatal Python error: NAME" and an empty line first;
    all_threads=False: "Stack (most recent call first):" and the frames of
    the current thread only.
Python 2.7 only.
"""
import sys

MAX_STRING_LENGTH = 500
MAX_FRAME_DEPTH = 100


def dump_ascii(text):
    out = []
    for ch in text[:MAX_STRING_LENGTH]:
        code = ord(ch)
        if 0x20 <= code <= 0x7e:
            out.append(ch)
        else:
            out.append("\\x%02x" % code)
    if len(text) > MAX_STRING_LENGTH:
        out.append("...")
    return "".join(out)


def own_thread_name():
    """The calling thread's name, as prctl(PR_GET_NAME) gives it."""
    with open("/proc/thread-self/comm") as f:
        return f.read().rstrip("\n")


def frames(frame):
    out = []
    depth = 0
    while frame is not None:
        if depth >= MAX_FRAME_DEPTH:
            out.append("  ...\n")
            break
        code = frame.f_code
        out.append('  File "%s", line %d in %s\n' % (
            dump_ascii(code.co_filename), frame.f_lineno,
            dump_ascii(code.co_name)))
        frame = frame.f_back
        depth += 1
    return "".join(out)


def all_threads(order, current, current_frame):
    """order: the idents of every thread, oldest first, as their thread
    states were created; current: the ident of the calling thread, whose
    frames start at current_frame."""
    by_ident = sys._current_frames()
    name = own_thread_name()
    out = []
    for n, ident in enumerate(reversed(order)):
        if n:
            out.append("\n")
        out.append("%s 0x%016x <%s> (most recent call first):\n" % (
            "Current thread" if ident == current else "Thread", ident, name))
        out.append(frames(current_frame if ident == current
                          else by_ident.get(ident)))
    return "".join(out)


def current_thread(current_frame):
    return "Stack (most recent call first):\n" + frames(current_frame)
