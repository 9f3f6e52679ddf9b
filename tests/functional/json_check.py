"""The JSON documents of pyfault-attach and pyfault-watch (--format json):
a check against the schema documented in their man pages, and a canonical
form shared with faulthandler's text, so that a document can be compared
with the oracle's dump.

canonical(data) takes a stream of bytes (a program's stderr, an output
file) in which each line is either a JSON document of pyfault or text, and
returns it with every dump reduced to what both forms carry:
  * the headers "Fatal Python error: NAME" (FPE's spelling unified) and
    "Timeout (H:MM:SS[.ffffff])!";
  * per thread "Current thread 0x...:" / "Thread 0x...:" (all threads) or
    "Stack:" (--current-thread-only);
  * each frame as faulthandler prints it ('  File "f", line N in name'),
    the document's strings escaped as faulthandler escapes them;
  * "Extension modules: a, b".
Dropped from the text: blank lines, "Process N:", "<no Python frame>",
"  Garbage-collecting" and the truncation markers "..." -- what the
document says otherwise (pid, empty frames, gc_collecting, *_truncated).
Other lines (the program's own output) are kept as they are.

Stdlib only; Python 3.8+.
"""
import json
import math
import re

SCHEMA_VERSION = 2
MARK = b'{"schema_version":'

NULL = type(None)
STR_OR_NULL = (str, NULL)
INT_OR_NULL = (int, NULL)

SIGNAL = {
    "number": int, "name": STR_OR_NULL, "code": INT_OR_NULL,
    "code_name": STR_OR_NULL, "address": STR_OR_NULL,
    "sender_pid": INT_OR_NULL,
}
LOCAL = {"name": STR_OR_NULL, "kind": str, "type": STR_OR_NULL,
         "repr": str}
FRAME = {"file": STR_OR_NULL, "name": STR_OR_NULL, "line": INT_OR_NULL,
         "locals": [LOCAL], "locals_truncated": bool}
NATIVE_FRAME = {
    "address": str, "object": STR_OR_NULL, "symbol": STR_OR_NULL,
    "offset": INT_OR_NULL, "file": STR_OR_NULL, "line": INT_OR_NULL,
}
SYSCALL = {"number": int, "name": STR_OR_NULL, "args": [str]}
THREAD = {
    "thread_id": int, "interpreter_id": INT_OR_NULL, "tid": INT_OR_NULL,
    "name": STR_OR_NULL, "python_name": STR_OR_NULL,
    "current": bool, "holds_gil": (bool, NULL), "state": str,
    "syscall": (SYSCALL, NULL), "gc_collecting": bool, "frames": [FRAME],
    "frames_truncated": bool, "native_frames": [NATIVE_FRAME],
}
INTERPRETER = {
    "id": INT_OR_NULL, "address": str, "main": bool,
    "threads_truncated": bool, "unreadable": bool,
}
DOCUMENT = {
    "schema_version": int, "tool": str, "tool_version": str,
    "process": {
        "pid": int, "executable": STR_OR_NULL, "interpreter": str,
        "python_version": str, "debug_build": bool,
        "offsets_source": str, "offsets_detail": str,
    },
    "reason": {
        "kind": str, "signal": (SIGNAL, NULL),
        "timeout_seconds": (float, int, NULL),
    },
    "current_thread_only": bool,
    "threads": [THREAD],
    "threads_truncated": bool,
    "interpreters": [INTERPRETER],
    "interpreters_truncated": bool,
    "extension_modules": [STR_OR_NULL],
}
# --tasks adds these members (schema_version 2).
TASK = {
    "id": str, "name": STR_OR_NULL, "state": str, "thread_id": INT_OR_NULL,
    "loop": STR_OR_NULL, "frames": [FRAME], "frames_truncated": bool,
    "awaits_object": ({"type": str, "address": str}, NULL),
    "awaiting": [str], "awaited_by": [str], "deadlock_cycle": INT_OR_NULL,
}
TASK_MEMBERS = {
    "tasks": [TASK], "tasks_truncated": bool,
    "event_loops": [{"thread_id": int, "loop": str}],
    "tasks_note": STR_OR_NULL,
}
KINDS = {"attach", "fatal_signal", "timeout", "request", "signal", "core"}
STATES = {"running", "syscall", "gil_wait", "unknown"}
HEX = re.compile(r"^0x[0-9a-f]+$")


class SchemaError(Exception):
    pass


def _check(value, spec, where):
    alternatives = spec if isinstance(spec, tuple) else (spec,)
    errors = []
    for alt in alternatives:
        try:
            if isinstance(alt, dict):
                if not isinstance(value, dict):
                    raise SchemaError("%s: expected an object, got %r" % (
                        where, value))
                if set(value) != set(alt):
                    raise SchemaError("%s: members %s, expected %s" % (
                        where, sorted(value), sorted(alt)))
                for key, sub in alt.items():
                    _check(value[key], sub, "%s.%s" % (where, key))
            elif isinstance(alt, list):
                if not isinstance(value, list):
                    raise SchemaError("%s: expected an array, got %r" % (
                        where, value))
                for i, item in enumerate(value):
                    _check(item, alt[0], "%s[%d]" % (where, i))
            elif alt is int:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise SchemaError("%s: expected an integer, got %r" % (
                        where, value))
            elif not isinstance(value, alt) or (
                    alt is float and isinstance(value, bool)):
                raise SchemaError("%s: expected %s, got %r" % (
                    where, alt.__name__, value))
            return
        except SchemaError as exc:
            errors.append(str(exc))
    raise SchemaError(" or ".join(errors))


def validate(doc, tool=None):
    """Raises SchemaError unless doc follows the documented schema."""
    _check(doc, dict(DOCUMENT, **TASK_MEMBERS) if "tasks" in doc
           else DOCUMENT, "document")
    if doc["schema_version"] != SCHEMA_VERSION:
        raise SchemaError("schema_version %r" % doc["schema_version"])
    if tool and doc["tool"] != tool:
        raise SchemaError("tool %r, expected %r" % (doc["tool"], tool))
    reason = doc["reason"]
    if reason["kind"] not in KINDS:
        raise SchemaError("reason.kind %r" % reason["kind"])
    has_signal = reason["kind"] in ("fatal_signal", "signal")
    # pyfault-core's "core": a signal when one wrote the core (not gcore).
    if reason["kind"] != "core" and (
            reason["signal"] is not None) != has_signal:
        raise SchemaError("reason.signal %r for kind %r" % (
            reason["signal"], reason["kind"]))
    if (reason["timeout_seconds"] is not None) != (
            reason["kind"] == "timeout"):
        raise SchemaError("reason.timeout_seconds for kind %r" %
                          reason["kind"])
    if has_signal and reason["signal"]["address"] is not None and not \
            HEX.match(reason["signal"]["address"]):
        raise SchemaError("reason.signal.address %r" %
                          reason["signal"]["address"])
    interps = doc["interpreters"]
    if not interps or not interps[0]["main"] or any(
            i["main"] for i in interps[1:]):
        raise SchemaError("interpreters %r: the main one first, alone" %
                          interps)
    ids = [i["id"] for i in interps]
    for t in doc["threads"]:
        if t["interpreter_id"] not in ids:
            raise SchemaError("thread of interpreter %r, not listed in %r"
                              % (t["interpreter_id"], ids))
    for iid in ids:
        if sum(t["current"] for t in doc["threads"]
               if t["interpreter_id"] == iid) > 1:
            raise SchemaError("more than one current thread in "
                              "interpreter %r" % iid)
    # None when no thread is current (pyfault says so on stderr).
    if doc["current_thread_only"] and len(doc["threads"]) > 1:
        raise SchemaError("current_thread_only with %d threads" %
                          len(doc["threads"]))
    for t in doc["threads"]:
        if t["state"] not in STATES:
            raise SchemaError("thread state %r" % t["state"])
        if (t["syscall"] is not None) != (t["state"] in ("syscall",
                                                         "gil_wait")):
            raise SchemaError("thread syscall %r in state %r" % (
                t["syscall"], t["state"]))
        if t["syscall"] and (len(t["syscall"]["args"]) != 6 or not all(
                HEX.match(a) for a in t["syscall"]["args"])):
            raise SchemaError("syscall args %r" % t["syscall"]["args"])
        for f in t["native_frames"]:
            if not HEX.match(f["address"]):
                raise SchemaError("native frame address %r" % f["address"])


def documents(data, tool=None):
    """The validated documents among the lines of data (bytes)."""
    docs = []
    for line in data.split(b"\n"):
        if line.startswith(MARK):
            doc = json.loads(line.decode("utf-8"))
            validate(doc, tool)
            docs.append(doc)
    return docs


def fh_escape(s):
    """A str as faulthandler's _Py_DumpASCII writes it."""
    out = []
    for ch in s:
        c = ord(ch)
        if 32 <= c <= 126:
            out.append(ch)
        elif c <= 0xff:
            out.append("\\x%02x" % c)
        elif c <= 0xffff:
            out.append("\\u%04x" % c)
        else:
            out.append("\\U%08x" % c)
    return "".join(out)


FATAL_NAMES = {
    "SIGSEGV": "Segmentation fault", "SIGFPE": "Floating point exception",
    "SIGABRT": "Aborted", "SIGBUS": "Bus error",
    "SIGILL": "Illegal instruction",
}


def _timeout_header(seconds, python_version):
    """faulthandler's header for a timeout of seconds: 3.7+ rounds it up to
    microseconds (_PyTime_ROUND_TIMEOUT), 3.6 and 2.7's backport truncate
    the float's fraction (format_timeout(double))."""
    if tuple(int(n) for n in python_version.split(".")[:2]) >= (3, 7):
        us = -(-math.ceil(seconds * 1e9) // 1000)
        sec, us = divmod(us, 1000000)
    else:
        fraction, whole = math.modf(seconds)
        sec, us = int(whole), int(fraction * 1e6)
    text = "Timeout (%d:%02d:%02d" % (sec // 3600, sec // 60 % 60, sec % 60)
    if us:
        text += ".%06d" % us
    return text + ")!"


def render(doc):
    """The canonical lines of one document."""
    lines = []
    reason = doc["reason"]
    if reason["kind"] == "fatal_signal":
        lines.append("Fatal Python error: %s" % FATAL_NAMES.get(
            reason["signal"]["name"], reason["signal"]["name"]))
    elif reason["kind"] == "timeout":
        lines.append(_timeout_header(reason["timeout_seconds"],
                                     doc["process"]["python_version"]))
    main_id = doc["interpreters"][0]["id"]
    shown = main_id
    for t in doc["threads"]:
        if t["interpreter_id"] != shown:
            shown = t["interpreter_id"]
            lines.append("Interpreter %d:" % shown)
        if doc["current_thread_only"]:
            lines.append("Stack:")
        else:
            lines.append("%s 0x%016x:" % (
                "Current thread" if t["current"] else "Thread",
                t["thread_id"]))
        for f in t["frames"]:
            lines.append("  File %s, line %s in %s" % (
                '"%s"' % fh_escape(f["file"]) if f["file"] is not None
                else "???",
                f["line"] if f["line"] is not None else "???",
                fh_escape(f["name"]) if f["name"] is not None else "???"))
    if doc["extension_modules"]:
        lines.append("Extension modules: %s" % ", ".join(
            fh_escape(n) if n is not None else "???"
            for n in doc["extension_modules"]))
    return "".join(line + "\n" for line in lines).encode("ascii")


# The thread name after the id (2.7's backport " <dumper>", 3.14's
# " [name]") is not part of the JSON frames compared here.
THREAD_HEADER = re.compile(
    rb"^(Current thread|Thread) (0x[0-9a-f]{16})(?: <[^>]*>| \[[^]]*\])? "
    rb"\(most recent call first\):$")
DROPPED = re.compile(
    rb"^(|Process \d+:|  <no Python frame>|<no Python frame>|"
    rb"  Garbage-collecting|  \.\.\.|\.\.\.|  <invalid frame>|"
    rb"<Cannot show all threads while the GIL is disabled>)$")
MODULES = re.compile(rb"^Extension modules: (.*) \(total: \d+\)$")


def canonical(data, tool=None):
    """data (bytes) with its dumps, text or JSON, in the canonical form."""
    out = []
    for line in data.split(b"\n"):
        if line.startswith(MARK):
            doc = json.loads(line.decode("utf-8"))
            validate(doc, tool)
            out.append(render(doc))
            continue
        m = THREAD_HEADER.match(line)
        if m:
            out.append(m.group(1) + b" " + m.group(2) + b":\n")
        elif line == b"Stack (most recent call first):":
            out.append(b"Stack:\n")
        elif line == b"Fatal Python error: Floating-point exception":
            out.append(b"Fatal Python error: Floating point exception\n")
        elif MODULES.match(line):
            out.append(b"Extension modules: " + MODULES.match(line).group(1)
                       + b"\n")
        elif not DROPPED.match(line):
            out.append(line + b"\n")
    return b"".join(out)
