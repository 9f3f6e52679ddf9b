#!/bin/bash
# Quick start demo: runs the deadlocked example server with Debian's python3,
# waits until it is hung, prints its threads' stacks with pyfault-attach, then
# stops it.  Exits with pyfault-attach's status.
#
#   contrib/examples/demo.sh [PATH_TO_pyfault-attach]
#
# The default binary is src/pyfault-attach at the top of the repository.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
attach=${1:-$top/src/pyfault-attach}
python=${PYTHON:-/usr/bin/python3}

if [ ! -x "$attach" ]; then
	echo "demo.sh: $attach is not an executable (build it first)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pyfault-demo.XXXXXX") || exit 1
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fifo=$tmp/ready
mkfifo "$fifo" || exit 1
# Opened read-write, the FIFO never blocks the open and never reads EOF, so
# `read -t` bounds the wait even if the server dies before it writes.
exec 3<>"$fifo"

"$python" "$top/contrib/examples/hung_server.py" --ready-fifo "$fifo" &
server_pid=$!

if ! read -r -t 20 word pid <&3 || [ "$word" != ready ]; then
	echo "demo.sh: the example server did not get ready" >&2
	exit 1
fi
exec 3<&-

echo "\$ $attach $pid"
"$attach" "$pid"
status=$?
exit "$status"
