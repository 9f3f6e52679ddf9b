#!/bin/sh
# Installs what pyfault needs to build and test on Debian 12 (as root).
# python3-dbg gives the DWARF of Debian's stripped python3, which the tests
# compare with pyfault's shipped offset tables.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config \
	libelf-dev libdw-dev libunwind-dev libjson-c-dev check \
	python3 python3-dbg gdb procps
