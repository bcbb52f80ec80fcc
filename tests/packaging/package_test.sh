#!/usr/bin/env bash
# The Debian package as a user gets it: built with cpack, unpacked into a scratch root with dpkg-deb -x
# (never installed into this machine), then its own binaries run from there. One step per ctest
# (tests/packaging/CMakeLists.txt); `build` runs first and the others read what it unpacked.
#
#   package_test.sh build | contents | depends | cli-check | cli-generate | studio-version | studio-generate
#
# Environment (set by ctest): SKYREELS_BUILD_DIR, SKYREELS_SCRATCH (a folder this test owns),
# SKYREELS_VERSION, SKYREELS_FIXTURES_DIR, CPACK (the cpack program), SKYREELS_EXPECTED_DEPENDS (a
# space-separated list of regular expressions: each must match a package named in Depends).
set -euo pipefail

step=${1:?usage: package_test.sh STEP}
build=$(realpath -m "${SKYREELS_BUILD_DIR:?}")
scratch=$(realpath -m "${SKYREELS_SCRATCH:?}")
version=${SKYREELS_VERSION:?}
root=$scratch/root
home=$scratch/home-$step  # each step its own, as steps may run at the same time

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

the_deb() {
  local debs=("$scratch"/cpack/skyreels-studio_"$version"_*.deb)
  [ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one skyreels-studio_${version}_*.deb in $scratch/cpack"
  echo "${debs[0]}"
}

# Runs an unpacked program with the step's home, so settings and caches stay in the scratch folder,
# and without the variables that would point it at files outside the package. LD_DEBUG=files records
# every library the dynamic loader opens (the dlmopen'd SentencePiece plug-in too) in $log.<pid>.
run_unpacked() {
  local log=$1
  shift
  env -u SKYREELS_DEMO_MODEL -u SKYREELS_SENTENCEPIECE_MODULE -u LD_LIBRARY_PATH \
    HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" XDG_DATA_HOME="$home/data" \
    LD_DEBUG=files LD_DEBUG_OUTPUT="$log" "$@"
}

# The plug-in came from the unpacked root, and nothing was loaded from the build tree.
check_loaded_files() {
  local log=$1
  cat "$log".* >"$log.all"
  grep -q "file=$root/usr/lib/skyreels/libskyreels_sentencepiece.so " "$log.all" ||
    fail "the SentencePiece plug-in was not loaded from $root/usr/lib/skyreels (loader log: $log.all)"
  if grep "file=$build/" "$log.all" | grep -v "file=$root/"; then fail "a file was loaded from the build tree $build"; fi
}

case $step in
build)
  rm -rf "$scratch"
  mkdir -p "$scratch/cpack"
  "${CPACK:?}" -G DEB --config "$build/CPackConfig.cmake" -B "$scratch/cpack"
  deb=$(the_deb)
  dpkg-deb -x "$deb" "$root"
  echo "unpacked $deb ($(du -h "$deb" | cut -f1)) into $root"
  ;;

contents)
  deb=$(the_deb)
  [ "$(dpkg-deb -f "$deb" Package)" = skyreels-studio ] || fail "Package is not skyreels-studio"
  [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version is not $version"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)" ] || fail "wrong Architecture"
  listing=$(dpkg-deb -c "$deb" | awk '{print $NF}')
  for path in usr/bin/skyreels-studio usr/bin/skyreels-cli usr/bin/skyreels-bench \
    usr/lib/skyreels/libskyreels_sentencepiece.so \
    usr/share/applications/skyreels-studio.desktop \
    usr/share/icons/hicolor/scalable/apps/skyreels-studio.svg \
    usr/share/skyreels-studio/demo-model/config.json \
    usr/share/skyreels-studio/demo-model/model.safetensors \
    usr/share/skyreels-studio/demo-model/Wan2.1_VAE.safetensors \
    usr/share/skyreels-studio/demo-model/models_t5_umt5-xxl-enc-bf16.safetensors \
    usr/share/skyreels-studio/demo-model/google/umt5-xxl/spiece.model \
    usr/share/skyreels-studio/demo-model/skyreels-defaults.json; do
    grep -qx "\./$path" <<<"$listing" || fail "the package lacks /$path"
  done
  outside=$(grep -v -e '^\./$' -e '^\./usr/' <<<"$listing" || true)
  [ -z "$outside" ] || fail "files outside /usr: $outside"
  for exe in skyreels-studio skyreels-cli skyreels-bench; do
    [ -x "$root/usr/bin/$exe" ] || fail "/usr/bin/$exe is not executable"
    if readelf -d "$root/usr/bin/$exe" | grep -E 'R(UN)?PATH'; then fail "/usr/bin/$exe keeps an RPATH"; fi
  done
  # The menu entry starts the packaged program and names the packaged icon.
  desktop=$root/usr/share/applications/skyreels-studio.desktop
  desktop-file-validate "$desktop" || fail "desktop-file-validate rejects the desktop entry"
  grep -qx 'Exec=skyreels-studio' "$desktop" || fail "the desktop entry does not start skyreels-studio"
  grep -qx 'Icon=skyreels-studio' "$desktop" || fail "the desktop entry's icon is not skyreels-studio"
  grep -q '<svg' "$root/usr/share/icons/hicolor/scalable/apps/skyreels-studio.svg" || fail "the icon is not an SVG"
  echo "contents ok: $(wc -l <<<"$listing") entries"
  ;;

depends)
  deb=$(the_deb)
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "Depends: $depends"
  [ -n "$depends" ] || fail "the package declares no Depends"
  names=()
  # What the installed packages provide besides themselves ("name" or "name (= version)"), one a line.
  provided=$(dpkg-query -W -f='${db:Status-Status} ${Provides}\n' | sed -n 's/^installed //p' | tr ',' '\n' |
    sed 's/^ *//; s/ *$//' | grep -v '^$' || true)
  # Each entry is "name (op version)" or alternatives "a | b"; one alternative installed is enough. A
  # package may be installed as itself, or (a virtual package, as libspdlog1.10-fmt9) provided by
  # another; a versioned dependency on a virtual package needs a versioned Provides.
  IFS=',' read -ra entries <<<"$depends"
  for entry in "${entries[@]}"; do
    satisfied=""
    IFS='|' read -ra alternatives <<<"$entry"
    for alt in "${alternatives[@]}"; do
      alt=$(echo "$alt" | xargs)
      name=${alt%% *}
      name=${name%%:*}
      names+=("$name")
      op="" want=""
      if [[ $alt =~ \(([<>=]+)\ *([^\)]+)\) ]]; then
        op=${BASH_REMATCH[1]}
        want=${BASH_REMATCH[2]}
        case $op in '>=') op=ge ;; '<=') op=le ;; '>>') op=gt ;; '<<') op=lt ;; '=') op=eq ;; esac
      fi
      versions=()
      installed=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null || true)
      [ "${installed%% *}" = installed ] && versions+=("${installed#* }")
      while read -r provide; do
        [ -n "$provide" ] || continue
        if [ "$provide" = "$name" ]; then
          [ -z "$op" ] && versions+=("")
        elif [[ $provide =~ \(=\ *([^\)]+)\)$ ]]; then
          versions+=("${BASH_REMATCH[1]}")
        fi
      done <<<"$(awk -v n="$name" '$1 == n' <<<"$provided")"
      for have in "${versions[@]}"; do
        if [ -z "$op" ] || dpkg --compare-versions "$have" "$op" "$want"; then
          satisfied=$name
          break
        fi
      done
      [ -n "$satisfied" ] && break
    done
    [ -n "$satisfied" ] || fail "Depends entry \"$(echo "$entry" | xargs)\" is not satisfied by an installed package"
  done
  for pattern in ${SKYREELS_EXPECTED_DEPENDS:?}; do
    printf '%s\n' "${names[@]}" | grep -Eqx "$pattern" || fail "Depends names no package matching $pattern"
  done
  echo "depends ok: ${#entries[@]} entries, each installed here"
  ;;

cli-check)
  [ "$(run_unpacked "$scratch/ld-version" "$root/usr/bin/skyreels-cli" --version)" = "skyreels-cli $version" ] ||
    fail "skyreels-cli --version does not print skyreels-cli $version"
  out=$(run_unpacked "$scratch/ld-check" "$root/usr/bin/skyreels-cli" check \
    "${SKYREELS_FIXTURES_DIR:?}/schedule" "$SKYREELS_FIXTURES_DIR/unipc_n10_s3_fp32")
  echo "$out"
  grep -q '^2 passed, 0 failed' <<<"$out" || fail "skyreels-cli check did not pass both fixture cases"
  ;;

cli-generate)
  out_dir=$scratch/cli-out
  rm -rf "$out_dir" "$home" "$scratch"/ld-generate.*
  mkdir -p "$out_dir"
  run_unpacked "$scratch/ld-generate" "$root/usr/bin/skyreels-cli" generate --frames 9 --steps 3 --seed 7 \
    --output "$out_dir/demo.mp4" 2>"$out_dir/stderr.txt" || {
    cat "$out_dir/stderr.txt" >&2
    fail "skyreels-cli generate on the demo model failed"
  }
  cat "$out_dir/stderr.txt"
  grep -q "^model $root/usr/share/skyreels-studio/demo-model (official layout)" "$out_dir/stderr.txt" ||
    fail "skyreels-cli did not use the packaged demo model"
  grep -q "^wrote 9 frames to $out_dir/demo.mp4" "$out_dir/stderr.txt" || fail "skyreels-cli did not report 9 frames"
  [ "$(head -c 8 "$out_dir/demo.mp4" | tail -c 4)" = ftyp ] || fail "demo.mp4 is not an MP4 file"
  check_loaded_files "$scratch/ld-generate"
  # The prompt embeddings were cached where the README says ($XDG_CACHE_HOME/skyreels-studio/...).
  ls "$home"/cache/skyreels-studio/prompt-embeddings/*.safetensors >/dev/null ||
    fail "no prompt embedding was cached in \$XDG_CACHE_HOME/skyreels-studio/prompt-embeddings"
  ;;

studio-version)
  out=$(QT_QPA_PLATFORM=offscreen run_unpacked "$scratch/ld-studio-version" "$root/usr/bin/skyreels-studio" --version)
  [ "$out" = "skyreels-studio $version" ] || fail "skyreels-studio --version printed \"$out\""
  ;;

studio-generate)
  # The app's non-interactive run: one generation with the form's model (the demo model), then a PNG
  # of the window; the video goes beside the PNG.
  out_dir=$scratch/studio-out
  rm -rf "$out_dir" "$home" "$scratch"/ld-studio.*
  mkdir -p "$out_dir"
  QT_QPA_PLATFORM=offscreen run_unpacked "$scratch/ld-studio" "$root/usr/bin/skyreels-studio" \
    --screenshot "$out_dir/window.png" --frames 9 --steps 3 --screenshot-timeout 400 2>"$out_dir/stderr.txt" || {
    cat "$out_dir/stderr.txt" >&2
    fail "skyreels-studio --screenshot failed"
  }
  cat "$out_dir/stderr.txt"
  grep -qF "saved $out_dir/window.png (job finished, 9 frames)" "$out_dir/stderr.txt" ||
    fail "skyreels-studio did not finish a 9-frame generation"
  [ "$(head -c 4 "$out_dir/window.png" | tail -c 3)" = PNG ] || fail "window.png is not a PNG"
  videos=("$out_dir"/*.mp4)
  [ -s "${videos[0]}" ] || fail "skyreels-studio wrote no video into $out_dir"
  # The engine's log (stderr) names the model folder it loaded: the packaged demo model, not the build's.
  grep -qF "$root/usr/share/skyreels-studio/demo-model" "$out_dir/stderr.txt" ||
    fail "skyreels-studio did not load the packaged demo model"
  if grep -F "$build/resources/demo-model" "$out_dir/stderr.txt"; then fail "skyreels-studio used the build's demo model"; fi
  check_loaded_files "$scratch/ld-studio"
  ;;

*)
  fail "unknown step $step"
  ;;
esac
