#!/bin/bash
# pie_check.sh - the restore trampoline object is self-contained: no
# relocation in its ckpt_pie section (every reference stays inside the copied
# code) and no other allocated section with contents (.rodata, .data, .bss,
# GOT), since only ckpt_pie is copied before the restorer unmaps itself.
#
#   pie_check.sh LIBCKPTPIE.a
set -u
lib=$1
relocs=$(readelf -rW "$lib" | grep -c "^Relocation section '.rela\?ckpt_pie'")
[ "$relocs" -eq 0 ] || { readelf -rW "$lib" | grep -A8 ckpt_pie; echo "FAIL: relocations in ckpt_pie"; exit 1; }
# Allocated sections (flag A) other than ckpt_pie with a non-zero size.
others=$(readelf -SW "$lib" | awk '
	/^ *\[ *[0-9]+\]/ {
		sub(/^ *\[ *[0-9]+\] */, "")
		name = $1; size = $5; flags = $7
		if (flags ~ /A/ && name != "ckpt_pie" && size !~ /^0+$/) print name
	}')
[ -z "$others" ] || { echo "FAIL: trampoline uses sections outside ckpt_pie: $others"; exit 1; }
echo "ok: ckpt_pie is self-contained"
