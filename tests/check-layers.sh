#!/bin/sh
# src/ is one folder per layer; a file may include its own folder and the
# folders below it in LAYERS, never one above: the dependencies of the
# architecture that doc/architecture.md describes.  A folder not listed
# fails too, so that a new one takes its place on purpose.
LAYERS="base process elf corefile layout walk native format dump image cli attach watch core tools"
src=${srcdir:-.}/src
status=0
rank() {
	i=0
	for layer in $LAYERS; do
		i=$((i + 1))
		[ "$layer" = "$1" ] && { echo $i; return; }
	done
	echo 0
}
for dir in "$src"/*/; do
	folder=$(basename "$dir")
	own=$(rank "$folder")
	if [ "$own" -eq 0 ]; then
		echo "src/$folder: not a layer of tests/check-layers.sh" >&2
		status=1
		continue
	fi
	for file in "$dir"*.c "$dir"*.h; do
		[ -e "$file" ] || continue
		for inc in $(sed -n 's/^#include "\([a-z_]*\)\/.*"/\1/p' "$file"); do
			their=$(rank "$inc")
			if [ "$their" -eq 0 ] || [ "$their" -gt "$own" ]; then
				echo "src/$folder/$(basename "$file") includes from" \
					"src/$inc, which is not below $folder" >&2
				status=1
			fi
		done
		if grep -q '^#include "[^/"]*"' "$file"; then
			echo "src/$folder/$(basename "$file"): an include without" \
				"its layer folder" >&2
			status=1
		fi
	done
done
[ $status -eq 0 ] && echo "src/: every include goes to the same or a lower layer"
exit $status
