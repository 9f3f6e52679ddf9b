#!/bin/sh
# doc/architecture.md names every layer folder of src/ and every source
# file in it, so that it keeps describing the tree as files come and move.
top=${srcdir:-.}
doc="$top/doc/architecture.md"
status=0
for file in "$top"/src/*/*.c; do
	folder=$(basename "$(dirname "$file")")
	name=$(basename "$file")
	if ! grep -q "^| \`$folder/\` |.*\`$name\`" "$doc"; then
		echo "doc/architecture.md: src/$folder/$name is not in the row" \
			"of src/$folder/" >&2
		status=1
	fi
done
[ $status -eq 0 ] && echo "doc/architecture.md names every file of src/"
exit $status
