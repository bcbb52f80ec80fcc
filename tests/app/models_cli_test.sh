#!/usr/bin/env bash
# skyreels-cli models download|list against the fake Hub (tests/core/hub/fake_hub_main.cpp) in a
# scratch folder: a download whose connection drops half-way and resumes, the list that then shows
# it complete, a corrupt file that fails verification (exit 1, partial deleted), an unknown name (exit 2).
set -uo pipefail
cli=${1:?usage: models_cli_test.sh SKYREELS_CLI FAKE_HUB_SERVER}
server=${2:?usage: models_cli_test.sh SKYREELS_CLI FAKE_HUB_SERVER}
scratch=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
export HF_HUB_CACHE="$scratch/empty-hub-cache" HF_ENDPOINT="http://127.0.0.1:9"   # never the real Hub
fail() { echo "FAIL: $*"; exit 1; }

start_server() {  # extra args for the server
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -f "$scratch/endpoint"
  "$server" --endpoint-file "$scratch/endpoint" "$@" & pid=$!
  for _ in $(seq 100); do [ -s "$scratch/endpoint" ] && break; sleep 0.05; done
  endpoint=$(cat "$scratch/endpoint") || fail "the fake hub did not start"
}

start_server --cut model.safetensors:600000
"$cli" models download Test/Tiny-DF --models-dir "$scratch/models" --endpoint "$endpoint" >"$scratch/out" 2>"$scratch/err" \
  || { cat "$scratch/err"; fail "download exited $?"; }
grep -q "resuming model.safetensors at byte 600000" "$scratch/err" || { cat "$scratch/err"; fail "no resume"; }
grep -q "snapshots/0123456789abcdef0123456789abcdef01234567" "$scratch/out" || fail "no snapshot printed"
"$cli" models list --models-dir "$scratch/models" --no-hub-cache >"$scratch/list" || fail "list exited $?"
cat "$scratch/list"
grep -Eq "^demo +complete +$scratch/models/models--Test--Tiny-DF/snapshots/" "$scratch/list" || fail "the download is not listed complete"

start_server --corrupt Wan2.1_VAE.safetensors
rm -rf "$scratch/models2"
"$cli" models download Test/Tiny-DF --models-dir "$scratch/models2" --endpoint "$endpoint" 2>"$scratch/err"
code=$?
[ "$code" -eq 1 ] || { cat "$scratch/err"; fail "a corrupt file exited $code, not 1"; }
grep -q "Wan2.1_VAE.safetensors failed verification: sha256" "$scratch/err" || { cat "$scratch/err"; fail "no sha256 message"; }
! ls "$scratch"/models2/models--Test--Tiny-DF/blobs/*.incomplete >/dev/null 2>&1 || fail "the corrupt partial was kept"

"$cli" models download DF-2B >/dev/null 2>&1
code=$?
[ "$code" -eq 2 ] || fail "an unknown model exited $code, not 2"
echo "models_cli_test: ok"
