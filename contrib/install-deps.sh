#!/bin/sh
# Installs what pyfault needs to build and test on Debian 12 (as root).
# python3-dbg gives the DWARF of Debian's stripped python3, which the tests
# compare with pyfault's shipped offset tables.  gdb and strace are the
# other tracers of the permission tests; strace also injects signals at
# each system call of the interruption tests.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config \
	libelf-dev libdw-dev libunwind-dev check \
	python3 python3-dbg gdb procps strace
