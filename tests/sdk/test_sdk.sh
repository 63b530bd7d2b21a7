# Installs the SDK from the build tree into a temporary prefix, builds the
# hello and ping_pong examples as out-of-tree projects with find_package(KOS),
# and boots them with the installed kos-tool and with `cmake --build -t run`.
# Also: docs/sdk.md lists what the SDK installs, the guides the help texts
# name are installed, compile_commands.json is written, kos_add_system()
# STRICT fails on a warning, and an image is re-signed when its key file is
# replaced in place.
set -euo pipefail
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$KOS_BUILD_DIR" --prefix "$WORK/sdk" >"$WORK/install.log" ||
  { cat "$WORK/install.log"; fail "cmake --install"; }
for f in bin/kos-tool include/kos/msg.h include/kos/app.h lib/libkos.a \
         lib/cmake/KOS/KOSConfig.cmake lib/kos/components/msg_server share/kos/layers/minimal.yaml \
         share/kos/layers/poukai.yaml include/kos/keystore.h lib/kos/components/key_store \
         lib/kos/components/self_test lib/kos/components/log_server lib/kos/components/rng_server; do
  [ -e "$WORK/sdk/$f" ] || fail "the SDK lacks $f"
done
# docs/sdk.md names every header, component and layer the SDK installs.
for f in "$WORK"/sdk/include/kos/*.h "$WORK"/sdk/lib/kos/components/* "$WORK"/sdk/share/kos/layers/*.yaml; do
  grep -q "\`$(basename "$f")\`" "$KOS_SOURCE_DIR/docs/sdk.md" ||
    fail "docs/sdk.md does not list $(basename "$f"), which the SDK installs"
done
# The guides are installed where the help texts say they are.
docs=$("$WORK/sdk/bin/kos-tool" --help | sed -n 's/.*The guides are in \(.*\)\.$/\1/p')
[ "$docs" = "$WORK/sdk/bin/../share/doc/kos" ] || fail "kos-tool --help names the guides at '$docs'"
for page in sdk.md images.md running.md keys.md assurance.md messages.md README.md; do
  [ -s "$docs/$page" ] || fail "the SDK lacks the guide $page"
done
"$WORK/sdk/bin/kos-tool" manifest.build --help | grep -q "See $WORK/sdk/bin/../share/doc/kos/images.md" ||
  fail "manifest.build --help does not name the installed images.md"

# The installed kos-tool finds the installed Poukai layer.
"$WORK/sdk/bin/kos-tool" manifest.check --fail-on info "$KOS_SOURCE_DIR/examples/i2c_sensor/system.yaml" \
  >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log"; fail "manifest.check with the SDK's layer"; }
grep -q "^summary: 0 errors, 0 warnings, 0 info" "$WORK/check.log" || { cat "$WORK/check.log"; fail "check"; }

for ex in hello ping_pong; do
  cp -r "$KOS_SOURCE_DIR/examples/$ex" "$WORK/$ex"
  # The same compiler flags as the SDK's build (a sanitizer build's libkos
  # needs the sanitizer runtime in the app too).
  cmake -S "$WORK/$ex" -B "$WORK/$ex/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/sdk" \
    -DCMAKE_C_FLAGS="${KOS_C_FLAGS:-}" -DCMAKE_EXE_LINKER_FLAGS="${KOS_LINK_FLAGS:-}" \
    >"$WORK/$ex.log" 2>&1 || { cat "$WORK/$ex.log"; fail "configuring $ex"; }
  cmake --build "$WORK/$ex/build" >>"$WORK/$ex.log" 2>&1 || { cat "$WORK/$ex.log"; fail "building $ex"; }
  # The SDK's package turns on compile_commands.json, for editors.
  grep -q "\"file\": \".*$ex/[a-z_]*\\.c\"" "$WORK/$ex/build/compile_commands.json" 2>/dev/null ||
    fail "$ex: no compile_commands.json naming its sources"
  grep -q -- "-I$WORK/sdk/include\|-isystem $WORK/sdk/include" "$WORK/$ex/build/compile_commands.json" ||
    fail "$ex: compile_commands.json does not show the SDK's headers"
done

# `cmake --build build -t run` builds and boots the first (here the only)
# system with the SDK's kos-tool and the build's trust key; hello ends by
# itself. run_<name> does the same for each system.
out=$(cmake --build "$WORK/hello/build" -t run 2>&1) || { echo "$out"; fail "cmake --build -t run (hello)"; }
grep -qE "hello: info: Hello from KOS" <<<"$out" || { echo "$out"; fail "-t run: no line from hello"; }
grep -qE "core: image .*hello_system.zip verified: signed by release key" <<<"$out" || { echo "$out"; fail "-t run"; }
out=$(cmake --build "$WORK/ping_pong/build" -t run_ping_pong 2>&1) || { echo "$out"; fail "-t run_ping_pong"; }
grep -qE "ping: info: done: 5 rounds" <<<"$out" || { echo "$out"; fail "-t run_ping_pong: ping did not finish"; }

# STRICT: a misspelt protocol name fails the build with the finding; without
# STRICT it builds, and the finding is in the build's output.
cp -r "$KOS_SOURCE_DIR/examples/hello" "$WORK/typo"
printf '    protocols:\n      msg0:\n        request: [helo_protocol]\n' >>"$WORK/typo/system.yaml"
grep -q "APPS hello STRICT)" "$WORK/typo/CMakeLists.txt" || fail "examples/hello does not use STRICT"
cmake -S "$WORK/typo" -B "$WORK/typo/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/sdk" \
  -DCMAKE_C_FLAGS="${KOS_C_FLAGS:-}" -DCMAKE_EXE_LINKER_FLAGS="${KOS_LINK_FLAGS:-}" \
  >"$WORK/typo.log" 2>&1 || { cat "$WORK/typo.log"; fail "configuring typo"; }
if cmake --build "$WORK/typo/build" >>"$WORK/typo.log" 2>&1; then
  cat "$WORK/typo.log"; fail "STRICT: a build with a warning succeeded"
fi
grep -q "warning: \[KOS-A003\] app 'hello' requests protocol 'helo_protocol'" "$WORK/typo.log" ||
  { cat "$WORK/typo.log"; fail "STRICT: the finding is not in the build's output"; }
[ ! -e "$WORK/typo/build/hello_system.zip" ] || fail "STRICT: an image was written"
sed -i 's/ STRICT)/)/' "$WORK/typo/CMakeLists.txt"
cmake --build "$WORK/typo/build" >"$WORK/typo.log" 2>&1 || { cat "$WORK/typo.log"; fail "without STRICT"; }
grep -q "warning: \[KOS-A003\] app 'hello' requests protocol 'helo_protocol'" "$WORK/typo.log" ||
  { cat "$WORK/typo.log"; fail "without STRICT: the finding is not in the build's output"; }
[ -s "$WORK/typo/build/hello_system.zip" ] || fail "without STRICT: no image"

# CMake's default generator (Makefiles), and an image in a folder of the build
# directory that does not exist yet: kos_add_system() makes it.
cp -r "$KOS_SOURCE_DIR/examples/hello" "$WORK/hello_make"
sed -i 's|^kos_add_system(\(.*\))$|kos_add_system(\1 OUTPUT images/sub/hello.zip)|' "$WORK/hello_make/CMakeLists.txt"
grep -q "OUTPUT images/sub/hello.zip" "$WORK/hello_make/CMakeLists.txt" || fail "could not set OUTPUT"
# It is signed with a release key of the project's own (KOS_RELEASE_KEY), a
# dependency of the image: a key replaced in place re-signs it.
"$WORK/sdk/bin/kos-tool" keys.generate --release --out "$WORK/rk" >/dev/null
cmake -S "$WORK/hello_make" -B "$WORK/hello_make/build" -G "Unix Makefiles" -DCMAKE_PREFIX_PATH="$WORK/sdk" \
  -DKOS_RELEASE_KEY="$WORK/rk/release.key" \
  -DCMAKE_C_FLAGS="${KOS_C_FLAGS:-}" -DCMAKE_EXE_LINKER_FLAGS="${KOS_LINK_FLAGS:-}" \
  >"$WORK/hello_make.log" 2>&1 || { cat "$WORK/hello_make.log"; fail "configuring hello with Makefiles"; }
cmake --build "$WORK/hello_make/build" >>"$WORK/hello_make.log" 2>&1 ||
  { cat "$WORK/hello_make.log"; fail "building hello with Makefiles and OUTPUT images/sub/hello.zip"; }
[ -s "$WORK/hello_make/build/images/sub/hello.zip" ] || fail "no image at OUTPUT images/sub/hello.zip"
[ -s "$WORK/hello_make/build/compile_commands.json" ] || fail "Makefiles: no compile_commands.json"
signer() { unzip -p "$WORK/hello_make/build/images/sub/hello.zip" image.sig | sed -n 's/^key //p'; }
key_id() { sed -n 's/.*key id \([0-9a-f]*\)$/\1/p' "$1"; }
old_id=$(signer)
rm "$WORK/rk/release.key" "$WORK/rk/release.pub"
"$WORK/sdk/bin/kos-tool" keys.generate --release --out "$WORK/rk" >"$WORK/newkey.log"
new_id=$(key_id "$WORK/newkey.log")
[ -n "$new_id" ] && [ "$new_id" != "$old_id" ] || fail "no new key"
cmake --build "$WORK/hello_make/build" >>"$WORK/hello_make.log" 2>&1 || { cat "$WORK/hello_make.log"; fail "rebuilding"; }
[ "$(signer)" = "$new_id" ] || fail "the key file was replaced, but the image is still signed by $(signer), not $new_id"
# run boots it trusting rk/release.pub, the public half beside the key.
out=$(cmake --build "$WORK/hello_make/build" -t run 2>&1) || { echo "$out"; fail "-t run with Makefiles"; }
grep -q "signed by release key $new_id" <<<"$out" || { echo "$out"; fail "-t run: not the new key"; }
grep -q "hello: info: Hello from KOS" <<<"$out" || { echo "$out"; fail "-t run with Makefiles: no hello"; }

out=$("$WORK/sdk/bin/kos-tool" run --trust "$WORK/hello/build/kos-keys/release.pub" \
  "$WORK/hello/build/hello_system.zip" 2>&1) || { echo "$out"; fail "booting hello"; }
grep -qE "hello: info: Hello from KOS" <<<"$out" || { echo "$out"; fail "hello's line"; }

out=$("$WORK/sdk/bin/kos-tool" run --trust "$WORK/ping_pong/build/kos-keys/release.pub" \
  "$WORK/ping_pong/build/ping_pong.zip" 2>&1) || { echo "$out"; fail "booting ping_pong"; }
grep -qE "ping: info: done: 5 rounds, scoreboard total 5" <<<"$out" || { echo "$out"; fail "ping_pong"; }
# kos-tool new: a project from each template, with the SDK's kos-tool; it
# builds against the SDK as it comes, and the hello one boots.
for t in hello ping_pong sensor protobuf; do
  "$WORK/sdk/bin/kos-tool" new "$t" "$WORK/new_$t" >"$WORK/new_$t.log" 2>&1 ||
    { cat "$WORK/new_$t.log"; fail "kos-tool new $t"; }
  grep -q "^project(new_$t " "$WORK/new_$t/CMakeLists.txt" || fail "new $t: the project is not named new_$t"
  grep -q "^system: new_$t" "$WORK/new_$t/system.yaml" || fail "new $t: the system is not named new_$t"
  cmake -S "$WORK/new_$t" -B "$WORK/new_$t/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/sdk" \
    -DCMAKE_C_FLAGS="${KOS_C_FLAGS:-}" -DCMAKE_EXE_LINKER_FLAGS="${KOS_LINK_FLAGS:-}" \
    >>"$WORK/new_$t.log" 2>&1 && cmake --build "$WORK/new_$t/build" >>"$WORK/new_$t.log" 2>&1 ||
    { cat "$WORK/new_$t.log"; fail "a project from the template $t does not build against the SDK"; }
done
out=$(cmake --build "$WORK/new_hello/build" -t run 2>&1) || { echo "$out"; fail "new hello: -t run"; }
grep -qE "core: system 'new_hello' ready" <<<"$out" || { echo "$out"; fail "new hello: not booted as new_hello"; }
# kos-tool watch: boots the project, rebuilds on a change and boots the new
# system; a build that fails leaves things as they are; Ctrl-C ends it all.
"$WORK/sdk/bin/kos-tool" watch "$WORK/new_hello/build" >"$WORK/watch.log" 2>&1 &
watch_pid=$!
wait_log() { # wait_log REGEX: up to 60 s for a line of watch's output
  for _ in $(seq 600); do grep -qE -- "$1" "$WORK/watch.log" && return 0; sleep 0.1; done
  cat "$WORK/watch.log"; kill -INT "$watch_pid" 2>/dev/null; fail "watch: no line matching '$1'"
}
wait_log "hello: info: Hello from KOS"
wait_log "kos-tool watch: the system has ended; waiting for changes"
sed -i 's/Hello from KOS/Hello again from KOS/' "$WORK/new_hello/system.yaml"
wait_log "hello: info: Hello again from KOS"
echo "this is not C" >>"$WORK/new_hello/hello.c"
wait_log "kos-tool watch: the build failed; the running system stays as it is"
kill -INT "$watch_pid"
wait "$watch_pid" || fail "watch: exit status $? after Ctrl-C"
[ "$(grep -c "core: booting system 'new_hello'" "$WORK/watch.log")" -eq 2 ] ||
  { cat "$WORK/watch.log"; fail "watch: expected two boots (the failed build boots nothing)"; }

# Bad input: an unknown template, a folder that is not empty, a bad name.
set +e
"$WORK/sdk/bin/kos-tool" new weather "$WORK/w" 2>"$WORK/err"; rc1=$?
"$WORK/sdk/bin/kos-tool" new hello "$WORK/new_hello" 2>>"$WORK/err"; rc2=$?
"$WORK/sdk/bin/kos-tool" new hello "$WORK/9lives" 2>>"$WORK/err"; rc3=$?
set -e
[ "$rc1" -eq 2 ] && grep -q "no template 'weather'; the templates are: hello ping_pong sensor protobuf" "$WORK/err" ||
  fail "new: unknown template: $(cat "$WORK/err")"
[ "$rc2" -eq 1 ] && grep -q "new_hello exists and is not empty" "$WORK/err" || fail "new: existing folder"
[ "$rc3" -eq 2 ] && grep -q "'9lives' cannot name a project" "$WORK/err" || fail "new: bad name"
[ ! -e "$WORK/w" ] && [ ! -e "$WORK/9lives" ] || fail "new: a refused project left a folder behind"
echo "PASS"
