#!/usr/bin/env bash
# The man pages, made from docs/ at build time, render without groff
# warnings, and document every option the programs accept: each --option of
# `ckpt COMMAND --help` is in ckpt(1), each of `ckpt-agent --help` in
# ckpt-agent(8), each plugstack key the plugin's parser knows in
# slurm-ckpt(8). A new option without its doc line fails here.
# Arguments: ckpt, ckpt-agent, the build's docs/ folder, spank/settings.c.
set -euo pipefail
ckpt=$1 agent=$2 mandir=$3 settings=$4

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# render PAGE: the man page as plain ASCII text, wide enough that no option
# is hyphenated; groff's warnings fail the test.
render() {
	local page=$mandir/$1 text
	[ -s "$page" ] || fail "$page was not built (is pandoc installed?)"
	text=$(LC_ALL=C MANWIDTH=250 man --warnings -l "$page" 2>"$page.warnings" | col -b)
	[ ! -s "$page.warnings" ] || fail "$1: groff warnings: $(head -n 5 "$page.warnings")"
	printf '%s\n' "$text"
}

# options TEXT: the distinct --long-options mentioned in TEXT.
options() {
	grep -oE -- '--[a-z][a-z0-9-]+' <<<"$1" | sort -u
}

# documented PAGE-TEXT WHAT OPTION...: every OPTION appears in PAGE-TEXT.
documented() {
	local text=$1 what=$2 opt
	shift 2
	for opt in "$@"; do
		grep -qF -- "$opt" <<<"$text" || fail "$what: $opt is not documented"
	done
}

ckpt_man=$(render ckpt.1)
for cmd in run checkpoint restart status list inspect; do
	help=$("$ckpt" "$cmd" --help 2>&1) || true
	mapfile -t opts < <(options "$help" | grep -vx -- '--help')
	[ "${#opts[@]}" -gt 0 ] || [ "$cmd" = list ] || fail "ckpt $cmd --help names no option: $help"
	documented "$ckpt_man" "ckpt(1), ckpt $cmd" "${opts[@]}"
	grep -q "ckpt $cmd" <<<"$ckpt_man" || fail "ckpt(1) does not describe 'ckpt $cmd'"
done

agent_man=$(render ckpt-agent.8)
mapfile -t opts < <(options "$("$agent" --help 2>&1 || true)" | grep -vx -- '--help')
[ "${#opts[@]}" -ge 5 ] || fail "ckpt-agent --help names too few options: ${opts[*]}"
documented "$agent_man" "ckpt-agent(8)" "${opts[@]}"

plugin_man=$(render slurm-ckpt.8)
mapfile -t keys < <(grep -oE 'strcmp\(key, "[a-z_]+"\)' "$settings" | sed -E 's/.*"([a-z_]+)".*/\1=/' | sort -u)
[ "${#keys[@]}" -ge 5 ] || fail "found only ${#keys[@]} plugstack keys in $settings"
documented "$plugin_man" "slurm-ckpt(8)" "${keys[@]}"
echo "ok: ckpt(1), ckpt-agent(8), slurm-ckpt(8) render cleanly and document ${#keys[@]} plugstack keys and every option"
