# -*- coding: utf-8 -*-
"""Target program for tests/functional/test_locals.py (CPython 2.7 and
3.6+).

    locals_target.py --ready-fd FD --oracle FILE

The main thread parks in a frame whose locals hold every kind of value
that pyfault's --locals renders (a huge int, float edge cases, a
non-ASCII str, bytes, a 10,000-item list, dicts, sets, tuples, a cell
variable, a free variable, an object whose __repr__ raises), on the line
where it sleeps in read() of its stdin.  On that line it first writes
FILE: its own stack, most recent call first, each frame as faulthandler
writes it followed by its frame.f_locals rendered by pyfault's rules
(render() below, the oracle), and FILE.pid its pid, then b"r" on FD; the
driver then waits until the thread sleeps in read().
"""
import os
import sys

PY2 = sys.version_info[0] == 2
if not PY2:
    long = int          # noqa: A001
    unicode = str       # noqa: A001
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)

ITEMS = 3
CHARS = 100
DIGITS = 100
MAX_DEPTH = 2
CO_OPTIMIZED = 1


def quote(chars):
    out = []
    for ch in chars:
        c = ord(ch)
        if 32 <= c <= 126 and ch not in '"\\':
            out.append(ch)
        elif c <= 0xff:
            out.append("\\x%02x" % c)
        elif c <= 0xffff:
            out.append("\\u%04x" % c)
        else:
            out.append("\\U%08x" % c)
    return '"%s"' % "".join(out)


def generic(v):
    return "<%s object at 0x%x>" % (type(v).__name__, id(v))


def render(v, depth=0):
    t = type(v)
    if v is None or v is True or v is False:
        return repr(v)
    if PY2 and t is int:
        return "%d" % v
    if t is long:
        digits = str(abs(v))
        if len(digits) > DIGITS:
            digits = "%s... (%d digits)" % (digits[:DIGITS], len(digits))
        return ("-" if v < 0 else "") + digits + ("L" if PY2 else "")
    if t is float:
        return repr(v)
    if t is str and not PY2 or PY2 and t is str:
        chars = v if not PY2 else [chr(ord(c)) for c in v]
        text = quote(chars[:CHARS])
        return text + ("..." if len(v) > CHARS else "")
    if not PY2 and t is bytes:
        text = "".join(chr(b) if 32 <= b <= 126 and chr(b) not in '"\\'
                       else "\\x%02x" % b for b in v[:CHARS])
        return 'b"%s"' % text + ("..." if len(v) > CHARS else "")
    if t in (tuple, list, dict) or (not PY2 and t in (set, frozenset)):
        return container(v, t, depth)
    return generic(v)


def container(v, t, depth):
    n = len(v)
    if t is set and n == 0:
        return "set()"
    if t is frozenset and n == 0:
        return "frozenset()"
    opening, closing = {tuple: ("(", ")"), list: ("[", "]"),
                        dict: ("{", "}"), set: ("{", "}"),
                        frozenset: ("frozenset({", "})")}[t]
    if depth >= MAX_DEPTH:
        inner = "..." if n else ""
    else:
        items = []
        for i, item in enumerate(v):
            if i == ITEMS:
                items.append("...")
                break
            if t is dict:
                items.append("%s: %s" % (render(item, depth + 1),
                                         render(v[item], depth + 1)))
            else:
                items.append(render(item, depth + 1))
        inner = ", ".join(items) + ("," if t is tuple and n == 1 else "")
    text = opening + inner + closing
    if n > ITEMS or (depth >= MAX_DEPTH and n > 0):
        text += " (len %d)" % n
    return text


def local_names(code, values):
    """The bound names in the order of the frame's fast locals: 3.11+
    f_locals keeps it; before, f_locals is built from co_varnames,
    co_cellvars and co_freevars in turn (2.7 and 3.6 dicts do not keep
    that order), a cell argument at its cell's place."""
    if sys.version_info >= (3, 11):
        return list(values)
    cells = code.co_cellvars
    names = [n for n in code.co_varnames[:code.co_nlocals]
             if n not in cells] + list(cells) + list(code.co_freevars)
    return [n for n in names if n in values]


def write_oracle(path, ready_fd):
    lines = []
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        lines.append('  File "%s", line %d in %s' % (
            code.co_filename, frame.f_lineno, code.co_name))
        if code.co_flags & CO_OPTIMIZED:
            values = frame.f_locals
            for name in local_names(code, values):
                lines.append("    %s = %s" % (name, render(values[name])))
        frame = frame.f_back
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    with open(path + ".pid", "w") as f:
        f.write("%d\n" % os.getpid())
    os.write(ready_fd, b"r")


class Broken(object):
    def __repr__(self):
        raise RuntimeError("a repr that fails: pyfault never calls it")


def parked(opts, captured_arg, kw=2.5):
    # Locals that only pyfault reads, from outside.
    huge = 10 ** 150 + 12345
    negative_huge = -(7 ** 200)
    small = -7
    zero = 0
    inf, ninf, nan = float("inf"), float("-inf"), float("nan")
    negzero, tiny, big_float = -0.0, 1e-05, 1e16
    fixed, third, half = 1e15, 1.0 / 3, 0.5
    denormal, largest, e17 = 5e-324, 1.7976931348623157e308, 1.2345678e17
    ten_thousandth, hundred, small_exp = 0.0001, 100.0, -2.5e-7
    text = u"h\u00e9llo \"q\" \\ \u4e2d\U0001f600 " * 10
    empty_text = ""
    data = b"\x00ab\"\xff" * 30
    ten_thousand = list(range(10000))
    nested = {"k": [1, (2,), [], {}], 3: None, (1, 2): "v", 4.5: 4}
    one = (1,)
    unit = ()
    some_set = set([7])
    empty_set = set()
    frozen = frozenset([8, 9])
    broken = Broken()
    flag, other = True, False
    nothing = None

    def closure():
        return captured_arg, huge

    oracle, fd = opts["--oracle"], int(opts["--ready-fd"])
    write_oracle(oracle, fd); os.read(0, 1)  # noqa: E702
    return closure


def main(argv):
    opts = dict(zip(argv[1::2], argv[2::2]))
    cell_value = ["cell", 1]

    def uses_cell():
        return cell_value
    parked(opts, u"captured \u00e9" if not PY2 else "captured")
    return uses_cell


if __name__ == "__main__":
    main(sys.argv)
