#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/) that do not
read whole process images, into tests/data/fuzz-corpus/TARGET/:

  linetable      the tables of real interpreters in
                 tests/unit/linetable_vectors.h, at several offsets
  string         str objects of every layout of src/layout/layout_tables.inc:
                 compact ASCII, compact UCS-1/2/4, legacy (data pointer)
  debug_offsets  the bytes at _PyRuntime of each 3.13+ image of tests/data

The walker's seeds are the images themselves (tests/data/*.img).
Usage: contrib/gen-fuzz-seeds.py  (from anywhere; writes into the tree)
"""
import os
import re
import struct
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(TOP, "tests", "data")
OUT = os.path.join(DATA, "fuzz-corpus")
KINDS = {"PF_LINES_LNOTAB": 0, "PF_LINES_PEP626": 1, "PF_LINES_LOCATIONS": 2}


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def unescape(c_string):
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", c_string))


def linetable_seeds():
    with open(os.path.join(TOP, "tests", "unit", "linetable_vectors.h")) as f:
        text = f.read()
    pattern = re.compile(r"/\* CPython (\S+) \*/\s*(PF_LINES_\w+), (\d+), "
                         r"(\d+),\s*\"([^\"]*)\",\s*(\d+),")
    for version, kind, first, _, table, units in pattern.findall(text):
        for addr in (-2, 0, 2 * (int(units) // 2), 2 * int(units)):
            head = struct.pack("<Bii", KINDS[kind], int(first), addr)
            write("linetable", "py%s-at%d" % (version, addr),
                  head + unescape(table))


def layout_rows():
    with open(os.path.join(TOP, "src", "layout", "layout_tables.inc")) as f:
        # The thread layouts' table, not the asyncio one after it.
        text = f.read().split("pf_asyncio_table[]")[0]
    for body in re.findall(r"\{\s*\.major = 3(.*?)\n\}", text, re.S):
        row = dict(re.findall(r"\.(\w+) = (-?\d+)", body))
        yield {k: int(v) for k, v in row.items()}


def string_seeds():
    """Objects laid out at the fuzz target's OBJECT (0x100000)."""
    for row in layout_rows():
        minor = row["minor"]
        if not 8 <= minor <= 13:
            continue    # the fuzz target's layouts are those of 3.8-3.13
        size = row["unicode_compact_size"] + 8
        for label, kind, compact, ascii, chars in (
                ("ascii", 1, 1, 1, "worker.py"),
                ("latin1", 1, 1, 0, "caf\xe9"),
                ("ucs2", 2, 1, 0, "\u65e5\u672c"),
                ("ucs4", 4, 1, 0, "\U0001F600!"),
                ("legacy", 2, 0, 0, "\u65e5x")):
            state = (kind << row["unicode_kind_shift"] |
                     compact << row["unicode_compact_shift"] |
                     ascii << row["unicode_ascii_shift"])
            encoded = chars.encode({1: "latin-1", 2: "utf-16-le",
                                    4: "utf-32-le"}[kind])
            obj = bytearray(size)
            struct.pack_into("<q", obj, row["unicode_length"], len(chars))
            struct.pack_into("<I", obj, row["unicode_state"], state)
            if compact:
                start = row["unicode_ascii_size" if ascii
                            else "unicode_compact_size"]
                obj[start:] = encoded
            else:
                struct.pack_into("<Q", obj, row["unicode_data"],
                                 0x100000 + size)
                obj += encoded
            # Byte 0 selects the layout (3.8 + n % 6); byte 1 = 1: a str.
            write("string", "py3.%d-%s" % (minor, label),
                  bytes([minor - 8, 1]) + bytes(obj))


def image_sections(path):
    with open(path, "rb") as f:
        data = f.read()
    pos, sections = 12, {}
    while pos < len(data):
        tag, n = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        sections[tag] = data[pos + 8:pos + 8 + n]
        pos += 8 + n
    return sections


def debug_offsets_seeds():
    for name in sorted(os.listdir(DATA)):
        if not name.endswith(".img"):
            continue
        sections = image_sections(os.path.join(DATA, name))
        values, pos = {}, 0
        vals = sections[b"VALS"]
        while pos < len(vals):
            n = vals[pos]
            key = vals[pos + 1:pos + 1 + n].decode()
            values[key] = struct.unpack_from("<q", vals, pos + 1 + n)[0]
            pos += 9 + n
        if (values["version.major"], values["version.minor"]) < (3, 13):
            continue
        mem, pos = sections[b"MEMR"], 0
        while pos < len(mem):
            addr, n = struct.unpack_from("<QI", mem, pos)
            if addr <= values["runtime"] < addr + n:
                start = pos + 12 + values["runtime"] - addr
                write("debug_offsets", name[:-len(".img")],
                      mem[start:pos + 12 + n])
            pos += 12 + n


def main():
    linetable_seeds()
    string_seeds()
    debug_offsets_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
