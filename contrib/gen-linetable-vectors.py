#!/usr/bin/env python3
"""Prints C initializers of tests/unit/linetable_vectors.h: the line tables
of sample functions as the running interpreter compiled them, and the line of
every code unit as the interpreter itself reports it (its own
PyCode_Addr2Line up to 3.9, co_lines() from 3.10).

Usage: for py in python2.7 python3.6 ... python3.13; do
           $py gen-linetable-vectors.py; done
Runs on Python 2.7 and 3.6+.
"""
from __future__ import print_function

import ctypes
import sys


def sample(a):
    x = 1
    for i in range(a):
        if i % 2:
            x += i
        else:
            x -= 1
    try:
        y = x / a
    except ZeroDivisionError:
        y = 0

    return (x,
            y)


# A line delta over 127 in one step: 2.7 writes it as one unsigned byte,
# 3.6+ as several signed ones.
FAR_SOURCE = "def far(a):\n    x = a\n" + "\n" * 200 + "    return x\n"


def far_function():
    namespace = {}
    exec(compile(FAR_SOURCE, "far.py", "exec"), namespace)
    return namespace["far"]


# Bytes per code unit: 2.7's instructions are 1 or 3 bytes long.
UNIT_BYTES = 1 if sys.version_info < (3, 6) else 2


def expected_lines(code):
    units = len(code.co_code) // UNIT_BYTES
    if sys.version_info < (3, 10):
        addr2line = ctypes.pythonapi.PyCode_Addr2Line
        addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
        addr2line.restype = ctypes.c_int
        lines = [addr2line(code, unit * UNIT_BYTES) for unit in range(units)]
        kind = ("PF_LINES_LNOTAB_UNSIGNED" if sys.version_info < (3, 6)
                else "PF_LINES_LNOTAB")
        return code.co_lnotab, kind, lines
    lines = [-1] * units
    for start, end, line in code.co_lines():
        for offset in range(start, end, 2):
            lines[offset // 2] = -1 if line is None else line
    kind = "PF_LINES_PEP626" if sys.version_info < (3, 11) else "PF_LINES_LOCATIONS"
    return code.co_linetable, kind, lines


def main():
    for func in (sample, far_function()):
        code = func.__code__
        table, kind, lines = expected_lines(code)
        print("\t{ /* CPython %d.%d.%d, %s() */" % (
            sys.version_info[:3] + (code.co_name,)))
        print("\t\t%s, %d, %d," % (kind, code.co_firstlineno, len(table)))
        print('\t\t"%s",' % "".join("\\x%02x" % b
                                     for b in bytearray(table)))
        print("\t\t%d, %d, {%s}," % (len(lines), UNIT_BYTES,
                                    ", ".join(map(str, lines))))
        print("\t},")


if __name__ == "__main__":
    main()
