#!/usr/bin/env python3
"""Prints one C initializer of tests/unit/linetable_vectors.h: the line table
of a sample function as the running interpreter compiled it, and the line of
every code unit as the interpreter itself reports it (dis.findlinestarts up to
3.9, co_lines() from 3.10).

Usage: for py in python3.8 ... python3.13; do $py gen-linetable-vectors.py; done
"""
import dis
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


def expected_lines(code):
    units = len(code.co_code) // 2
    if sys.version_info < (3, 10):
        lines, line = [], -1
        starts = dict(dis.findlinestarts(code))
        for unit in range(units):
            line = starts.get(unit * 2, line)
            lines.append(line)
        return code.co_lnotab, "PF_LINES_LNOTAB", lines
    lines = [-1] * units
    for start, end, line in code.co_lines():
        for offset in range(start, end, 2):
            lines[offset // 2] = -1 if line is None else line
    kind = "PF_LINES_PEP626" if sys.version_info < (3, 11) else "PF_LINES_LOCATIONS"
    return code.co_linetable, kind, lines


def main():
    code = sample.__code__
    table, kind, lines = expected_lines(code)
    print("\t{ /* CPython %d.%d.%d */" % sys.version_info[:3])
    print("\t\t%s, %d, %d," % (kind, code.co_firstlineno, len(table)))
    print('\t\t"%s",' % "".join("\\x%02x" % b for b in table))
    print("\t\t%d, {%s}," % (len(lines), ", ".join(map(str, lines))))
    print("\t},")


if __name__ == "__main__":
    main()
