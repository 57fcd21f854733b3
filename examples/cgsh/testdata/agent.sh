#!/bin/sh
# A release agent: it appends its argument, the released container's path,
# to the file "released" beside it.
echo "$1" >> "$(dirname "$0")/released"
