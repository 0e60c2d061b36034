#!/bin/sh
# Check the layering of src/ (DESIGN.md section 3): each folder includes only the
# folders its src/<folder>/.may_include lists (never one above it), no circle
# between files, libraries behind their one file or folder, no file over 800
# lines, and no symbol prefix used in two folders. The checks are scripts/check-layers.py; see its
# header for the rules. Exits 1 and names each fault.
# Usage: sh scripts/check-layers.sh [--root DIR]
set -eu
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" "$(dirname "$0")/check-layers.py" "$@"
