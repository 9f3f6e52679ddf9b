#!/bin/sh
# Builds the Debian package of this tree and checks it with lintian:
#
#     contrib/build-deb.sh [OUTDIR]
#
# The tree (its git files, committed or not, or all of it outside git) is
# copied into a scratch directory, contrib/debian/ becomes its debian/, and
# dpkg-buildpackage -us -uc -b builds it there; the .deb, .buildinfo and
# .changes land in OUTDIR (default: the current directory).  Any lintian
# tag fails the build: contrib/debian/pyfault.lintian-overrides justifies
# the ones kept.  Needs debhelper, dpkg-dev, lintian and the build
# dependencies of contrib/debian/control (contrib/install-deps.sh).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pyfault-deb.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM

version=$(sed -n '1s/^pyfault (\([^)]*\)).*/\1/p' "$top/contrib/debian/changelog")
upstream=${version%-*}
src="$scratch/pyfault-$upstream"
mkdir "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\n" "$f"; done' sh |
		tar -cf - -T -) | tar -xf - -C "$src"
else
	(cd "$top" && tar -cf - .) | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -r "$src/contrib/debian" "$src/debian"

(cd "$src" && dpkg-buildpackage -us -uc -b)
changes="$scratch/pyfault_${version}_amd64.changes"
lintian --fail-on error,warning,info,pedantic --display-info --pedantic \
	"$changes"
cp "$scratch"/pyfault*_"$version"_amd64.* "$out"
echo "build-deb: $out/pyfault_${version}_amd64.deb"
