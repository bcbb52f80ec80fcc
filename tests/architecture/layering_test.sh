#!/usr/bin/env bash
# The architecture's rules, checked on the sources (code-style-anchors, "What SkyReels Studio takes"):
#  - the engine (core/) includes no Qt header;
#  - the front ends (app/cli, app/studio, ui/) include only the public API (core/include/skyreels/*.h):
#    no engine-internal header and no LibTorch header reaches them.
# Prints each violation with its file and line; exit 1 when there is one.
set -uo pipefail
root=${1:?usage: layering_test.sh SOURCE_DIR}
cd "$root" || exit 2
failed=0

report() {  # $1 rule, $2 grep -n output (one violation per line)
  local rule=$1 found=$2 line
  [ -z "$found" ] && return
  while IFS= read -r line; do echo "layering: $rule: $line"; done <<<"$found"
  failed=1
}

report "Qt in the engine" "$(grep -rnE '#include[[:space:]]*<Q' core --include='*.h' --include='*.cpp' --include='*.cu')"

internal='(pipeline|model|io|parallel|telemetry|video|sched|kernels|conformance|api|hub)/'
front_ends=(app/cli app/studio ui)
report "an engine-internal header in a front end (use core/include/skyreels/)" \
  "$(grep -rnE "#include[[:space:]]*\"$internal" "${front_ends[@]}" --include='*.h' --include='*.cpp')"
report "a LibTorch header in a front end" \
  "$(grep -rnE '#include[[:space:]]*<(torch|ATen|c10)/' "${front_ends[@]}" --include='*.h' --include='*.cpp')"
# The public headers themselves stay free of LibTorch, or the rule above would hold only on paper.
report "a LibTorch header in the public API" "$(grep -rnE '#include[[:space:]]*<(torch|ATen|c10)/' core/include)"

if [ "$failed" -eq 0 ]; then echo "layering: ok (core has no Qt; front ends use the public API only)"; fi
exit "$failed"
