#!/bin/sh
# Static analysis of the C sources with cppcheck; any finding fails (.ci/run).
# Suppressed, each for a reason:
#   unusedStructMember  layout_debug_offsets.c mirrors CPython's whole
#                       _Py_DebugOffsets: unused members keep the offsets
#   unreachableCode     signal_policy.c: raise() of a stop signal returns once
#                       the process is continued; cppcheck takes it as noreturn
#   unreadVariable      layout_dump.c: the X-macro's last assignment
#   constParameter      libdw takes Dwarf_Die * everywhere; the compiler
#                       already checks what static helpers modify
#   missingInclude*     system headers are not analysed
# Usage: contrib/lint.sh  (from anywhere)
set -eu
cd "$(dirname "$0")/.."
exec cppcheck --quiet --std=c11 --error-exitcode=1 --inline-suppr \
	--enable=warning,style,performance,portability \
	--suppress=unusedStructMember:src/layout/layout_debug_offsets.c \
	--suppress=unreachableCode:src/watch/signal_policy.c \
	--suppress=unreadVariable:src/tools/layout_dump.c \
	--suppress=constParameter \
	--suppress=missingIncludeSystem \
	-I src src tests/unit tests/fuzz
