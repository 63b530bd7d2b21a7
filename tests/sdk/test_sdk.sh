# Installs the SDK from the build tree into a temporary prefix, builds the
# hello and ping_pong examples as out-of-tree projects with find_package(KOS),
# and boots them with the installed kos-tool.
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
done

# CMake's default generator (Makefiles), and an image in a folder of the build
# directory that does not exist yet: kos_add_system() makes it.
cp -r "$KOS_SOURCE_DIR/examples/hello" "$WORK/hello_make"
sed -i 's|^kos_add_system(\(.*\))$|kos_add_system(\1 OUTPUT images/sub/hello.zip)|' "$WORK/hello_make/CMakeLists.txt"
grep -q "OUTPUT images/sub/hello.zip" "$WORK/hello_make/CMakeLists.txt" || fail "could not set OUTPUT"
cmake -S "$WORK/hello_make" -B "$WORK/hello_make/build" -G "Unix Makefiles" -DCMAKE_PREFIX_PATH="$WORK/sdk" \
  -DCMAKE_C_FLAGS="${KOS_C_FLAGS:-}" -DCMAKE_EXE_LINKER_FLAGS="${KOS_LINK_FLAGS:-}" \
  >"$WORK/hello_make.log" 2>&1 || { cat "$WORK/hello_make.log"; fail "configuring hello with Makefiles"; }
cmake --build "$WORK/hello_make/build" >>"$WORK/hello_make.log" 2>&1 ||
  { cat "$WORK/hello_make.log"; fail "building hello with Makefiles and OUTPUT images/sub/hello.zip"; }
[ -s "$WORK/hello_make/build/images/sub/hello.zip" ] || fail "no image at OUTPUT images/sub/hello.zip"

out=$("$WORK/sdk/bin/kos-tool" run --trust "$WORK/hello/build/kos-keys/release.pub" \
  "$WORK/hello/build/hello_system.zip" 2>&1) || { echo "$out"; fail "booting hello"; }
grep -qE "hello: info: Hello from KOS" <<<"$out" || { echo "$out"; fail "hello's line"; }

out=$("$WORK/sdk/bin/kos-tool" run --trust "$WORK/ping_pong/build/kos-keys/release.pub" \
  "$WORK/ping_pong/build/ping_pong.zip" 2>&1) || { echo "$out"; fail "booting ping_pong"; }
grep -qE "ping: info: done: 5 rounds, scoreboard total 5" <<<"$out" || { echo "$out"; fail "ping_pong"; }
echo "PASS"
