#!/bin/sh
# Installs what pyfault needs to build and test on Debian 12 (as root).
# python3-dbg gives the DWARF of Debian's stripped python3, which the tests
# compare with pyfault's shipped offset tables; python3-dev gives the headers
# the tests build a C extension with, and the shared libpython3.11 and
# python3.11-config that the embedded-interpreter tests build a program
# against.  libdebuginfod1 is the debuginfod client that libdw loads when
# DEBUGINFOD_URLS is set (tested with a local server).  gdb and strace are
# the other tracers of the permission tests; strace also injects signals at
# each system call of the interruption tests.  util-linux's unshare, nsenter
# and setpriv run the container and permission tests.
# libzstd, liblzma and liblz4 read cores compressed as systemd-coredump
# stores them; zstd, xz-utils and lz4 compress cores in their tests.
# valgrind, cppcheck and clang with its sanitizer and libFuzzer runtimes
# (libclang-rt-14-dev) run .ci/run's reliability checks.
# bash-completion gives pkg-config its completions directory and loads the
# completion in its test; debhelper and lintian build and check the Debian
# package (contrib/build-deb.sh).
# Another apt-get at work (a shared machine, unattended upgrades) is waited
# for, up to five minutes, instead of failing on its lock at once: install
# waits for dpkg's lock itself; update, which has no such option for the
# lock of the package lists, is tried again.
set -e
export DEBIAN_FRONTEND=noninteractive
tries=0
until apt-get update -qq; do
	tries=$((tries + 1))
	[ $tries -lt 30 ] || exit 1
	sleep 10
done
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config \
	libelf-dev libdw-dev libdebuginfod1 libunwind-dev libjson-c-dev check \
	libzstd-dev liblzma-dev liblz4-dev zstd xz-utils lz4 \
	python3 python3-dbg python3-dev gdb procps strace util-linux \
	valgrind cppcheck clang libclang-rt-14-dev \
	bash-completion debhelper lintian
