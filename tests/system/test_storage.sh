# The boot store on sim (docs/storage.md): kos-tool run --storage DIR keeps
# generations as a device's storage does. A first image becomes current and,
# its self test passed, good; a new one whose self test fails boots once,
# and Core reboots into the good one, saying so; one that loses power before
# it reports (kill -9) falls back at the next boot (both remembered as
# failed); the same image twice
# makes no new generation; old generations and their blobs are collected; a
# tampered blob, an untrusted image, a folder that is not a store, a second
# writer and a damaged state are each refused with a clear error, the store
# left as it was. storage.show says what the store holds. Release numbers
# never go back: an older release, an unnumbered image or the same number
# with other contents is refused before anything is written; a record whose
# release number does not match its signed manifest is damage.
source "$(dirname "$0")/lib.sh"

S=$WORK/store
# image NAME VERDICT: a system NAME whose self-test app reports VERDICT
# (pass, fail or never), beside a ticking app; its image in $WORK/NAME.zip.
image() {
  cat >"$WORK/$1.yaml" <<EOF
system: $1
${RELEASE:+release: $RELEASE}
${OVERLAY:+overlay: $OVERLAY}
base: minimal
apps:
  checker:
    binary: t_app
    args: [selftest, $2]
    memory: 8MiB
    reports_self_test: true
  ticker:
    binary: t_app
    args: [tick, "100"]
    memory: 8MiB
EOF
  "$KOS_TOOL" manifest.build "$WORK/$1.yaml" -o "$WORK/$1.zip" --key "$KOS_KEY" \
    --bin "t_app=$KOS_T_APP" >"$WORK/build.txt" 2>&1 ||
    { cat "$WORK/build.txt" >&2; fail "cannot build $1"; }
}
# boot_store [IMAGE] [options]: runs the store in the background (PID, console in $OUT).
boot_store() {
  : >"$OUT"
  "$KOS_TOOL" run --storage "$S" --trust "$KOS_TRUST" "$@" >"$OUT" 2>&1 &
  PID=$!
}
show() { "$KOS_TOOL" storage.show "$S" >"$WORK/show.txt" 2>&1 || fail "storage.show: $(cat "$WORK/show.txt")"; }
shows() { grep -qE -- "$1" "$WORK/show.txt" || fail "storage.show has no line matching '$1': $(cat "$WORK/show.txt")"; }

image good_one pass
image bad_one fail
image hang_one never
image other pass

# ---- the first generation: current, then good once its self test passes
boot_store "$WORK/good_one.zip"
wait_for "core: boot store: generation 1 passed its self test: it is the good one now"
expect "kos-tool run: stored image .*good_one.zip as generation 1 of $S; it is current"
expect "core: boot store: generation 1 is new: boot 1 of 1 in which its self test must pass, or the store falls back \(there is no good generation yet\)"
expect "core: generation 1 of store $S verified: signed by release key [0-9a-f]{16}$"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC"
show
shows "^store $S: 1 generation; current 1, good 1$"
shows "^  1 +good_one +- +[0-9a-f]{16} +[0-9a-f]{16} +[0-9]+ +[0-9T:Z-]+ +current, good$"
[ "$(stat -c %a "$S")" = 700 ] || fail "the store is not 0700"

# Booting again without an image boots current; the same image again adds nothing.
boot_store "$WORK/good_one.zip"
wait_for "core: system 'good_one' ready"
expect "kos-tool run: image .*good_one.zip is generation 1 of $S, current already"
expect_not "boot store: generation 1 is new"
stop_image TERM

# ---- a generation whose self test fails: one boot, then back to good
boot_store "$WORK/bad_one.zip"
wait_for "booting from the store again"
wait_for "core: system 'good_one' ready"
expect "core: boot store: generation 2 is new: boot 1 of 1 in which its self test must pass, or the store falls back$"
expect "core: self test failed: t_app: told to fail \(1 of 1 checks failed\)"
expect "core: boot store: generation 2 failed its self test: the next boot falls back to generation 1$"
expect "core: shutting down: generation 2 failed its self test; rebooting into the last good one"
expect "core: system stopped for a reboot \(generation 2 failed its self test; rebooting into the last good one\); booting from the store again"
expect "core: generation 1 of store $S verified"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC after the fallback"
show
shows "^store $S: 2 generations; current 1, good 1$"
shows "^  2 +bad_one .* failed$"
grep -qx "failed 2" "$S/state" || fail "the state does not remember generation 2 failed: $(cat "$S/state")"

# ---- power lost before the self test reports: the next boot falls back
boot_store "$WORK/hang_one.zip" --self-test-timeout 600000
wait_for "core: system 'hang_one' ready"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
PID=
show
shows "^store $S: 3 generations; current 3, good 1 \(current has had 1 of 1 boot to pass its self test\)$"
boot_store
wait_for "core: system 'good_one' ready"
expect "core: boot store: generation 3 did not pass its self test in 1 boot: falling back to generation 1, the last good one$"
stop_image TERM
show
shows "^store $S: 3 generations; current 1, good 1$"
shows "^  3 +hang_one .* failed$"
grep -qx "failed 2 3" "$S/state" || fail "the state does not remember generations 2 and 3 failed: $(cat "$S/state")"

# ---- a passing new generation becomes good; the old ones are collected
boot_store "$WORK/other.zip"
wait_for "core: boot store: generation 4 passed its self test: it is the good one now"
stop_image TERM
for i in 1 2; do
  image "extra$i" pass
  boot_store "$WORK/extra$i.zip"
  wait_for "core: boot store: generation $((4 + i)) passed its self test"
  stop_image TERM
done
show
shows "^store $S: 3 generations; current 6, good 6$"
for g in 1 2 3; do grep -qE "^  $g " "$WORK/show.txt" && fail "generation $g was not collected"; done
# The blobs left are exactly those the kept generations name: three
# manifests, msg0's binary and t_app's.
needed=$(cat "$S"/generations/* | awk '/^blob / { print $2 }' | sort -u)
[ "$(ls "$S/blobs" | sort)" = "$needed" ] || fail "blobs left: $(ls "$S/blobs"); needed: $needed"
[ "$(echo "$needed" | wc -l)" -eq 5 ] || fail "the kept generations name $(echo "$needed" | wc -l) blobs, expected 5"

# ---- refusals, the store left as it was
cp -a "$S" "$WORK/before"
# An image signed by a key the store's boot does not trust.
"$KOS_TOOL" keys.generate --release --out "$WORK/rogue" >/dev/null 2>&1 || fail "cannot make a rogue key"
"$KOS_TOOL" manifest.build "$WORK/other.yaml" -o "$WORK/rogue.zip" --key "$WORK/rogue/release.key" \
  --bin "t_app=$KOS_T_APP" >/dev/null 2>&1 || fail "cannot build the rogue image"
RC=0
"$KOS_TOOL" run --storage "$S" "$WORK/rogue.zip" --trust "$KOS_TRUST" >"$OUT" 2>&1 || RC=$?
[ "$RC" -eq 3 ] || fail "an untrusted image: exit status $RC, expected 3"
expect "kos-tool run: refusing image .*rogue.zip: signature does not verify with any trusted key"
diff -r "$S" "$WORK/before" >/dev/null || fail "a refused image changed the store"

# What a bad block or a hand does to the store: the device boots what it
# still can, says what it found, and deletes nothing. boot_damaged RE: boots
# the store in the foreground until system 'extra1' (generation 5: good is
# 6, damaged) is ready, then stops it; its console must match RE.
boot_damaged() {
  boot_store
  wait_for "core: system 'extra1' ready"
  expect "$1"
  stop_image TERM
  [ "$RC" -eq 0 ] || fail "exit status $RC"
  expect "core: boot store: the good generation cannot be booted either: falling back to generation 5, the newest one left to try$"
  for f in $(cd "$WORK/before" && find . -type f -path "./blobs/*"); do
    [ -e "$S/$f" ] || fail "$f was deleted"
  done
  rm -rf "$S" && cp -a "$WORK/before" "$S"
}
# A changed blob of the current (and good) generation.
blob=$(awk '/^blob / { print $2; exit }' "$S/generations/6")
printf 'x' >>"$S/blobs/$blob"
boot_damaged "core: refusing generation 6 of store $S: generation 6 of $S: manifest blob $blob has SHA-256 [0-9a-f]{64}$"
# A damaged generation record.
printf 'kos-generation 1\nmanifest zz\n' >"$S/generations/6"
boot_damaged "core: refusing generation 6 of store $S: generation 6's record \($S/generations/6\) is damaged: no manifest digest$"
# A blob that is a symbolic link (to the right bytes: never followed).
rm "$S/blobs/$blob" && ln -s "$WORK/before/blobs/$blob" "$S/blobs/$blob"
boot_damaged "core: refusing generation 6 of store $S: generation 6 of $S: image.sig names manifest $blob, but the image has no blob $blob$"
# A truncated blob, every generation's: nothing can boot, and that is said.
for f in "$S"/blobs/*; do : >"$f"; done
RC=0
"$KOS_TOOL" run --storage "$S" --trust "$KOS_TRUST" >"$OUT" 2>&1 || RC=$?
[ "$RC" -eq 3 ] || fail "every blob truncated: exit status $RC, expected 3"
expect "core: cannot boot from the store: no generation of the store $S can be booted$"
expect_count 3 "core: refusing generation [456] of store"
rm -rf "$S" && cp -a "$WORK/before" "$S"

# A second writer.
boot_store
wait_for "core: system 'extra2' ready"
RC=0
"$KOS_TOOL" run --storage "$S" --trust "$KOS_TRUST" >"$WORK/second.txt" 2>&1 || RC=$?
[ "$RC" -eq 4 ] || fail "a second writer: exit status $RC, expected 4"
grep -q "kos-tool run: the store $S is in use by another Core or kos-tool" "$WORK/second.txt" ||
  fail "a second writer: $(cat "$WORK/second.txt")"
stop_image TERM

# A damaged state: storage.show says so; a boot reads its copy, state.1.
printf 'current 1\n' >"$S/state"
RC=0
"$KOS_TOOL" storage.show "$S" >"$OUT" 2>&1 || RC=$?
[ "$RC" -eq 1 ] || fail "storage.show of a damaged state: exit status $RC"
expect "kos-tool storage.show: $S/state is not a store state"
boot_store
wait_for "core: system 'extra2' ready"
expect "core: boot store: $S/state does not parse: booting as its copy, state.1, says; booting generation 6, the good one$"
stop_image TERM
show
shows "^store $S: 3 generations; current 6, good 6$"
# Both gone: the newest generation boots, with no good one known.
rm "$S/state" "$S/state.1"
boot_store
wait_for "core: system 'extra2' ready"
expect "core: boot store: $S/state is missing, and its copy, state.1, cannot be used either: booting the newest generation with no good one known; generation 6 is new"
stop_image TERM
rm -rf "$S" && cp -a "$WORK/before" "$S"

# ---- storage.import: stored without booting; the next boot boots it
"$KOS_TOOL" storage.import "$S" "$WORK/good_one.zip" --trust "$KOS_TRUST" >"$WORK/imp.txt" 2>&1 ||
  fail "storage.import: $(cat "$WORK/imp.txt")"
grep -qx "stored image $WORK/good_one.zip as generation 7 of $S; it is current" "$WORK/imp.txt" ||
  fail "storage.import said: $(cat "$WORK/imp.txt")"
boot_store
wait_for "core: boot store: generation 7 passed its self test: it is the good one now"
expect "core: boot store: generation 7 is new: boot 1 of 1"
stop_image TERM
"$KOS_TOOL" storage.import "$S" "$WORK/good_one.zip" --trust "$KOS_TRUST" >"$WORK/imp.txt" 2>&1 ||
  fail "storage.import again: $(cat "$WORK/imp.txt")"
grep -qx "image $WORK/good_one.zip is generation 7 of $S, current already" "$WORK/imp.txt" ||
  fail "storage.import again said: $(cat "$WORK/imp.txt")"
RC=0
"$KOS_TOOL" storage.import "$S" >"$WORK/imp.txt" 2>&1 || RC=$?
[ "$RC" -eq 2 ] || fail "storage.import without an image: exit status $RC"

# ---- release numbers never go back (a store of their own); overlays come
# after their release and before the next
R=$WORK/rstore
import_rc() { # WANT IMAGE: storage.import into $R, its exit status WANT; output in imp.txt
  local rc=0
  "$KOS_TOOL" storage.import "$R" "$WORK/$2.zip" --trust "$KOS_TRUST" >"$WORK/imp.txt" 2>&1 || rc=$?
  [ "$rc" -eq "$1" ] || fail "storage.import $2: exit status $rc, expected $1: $(cat "$WORK/imp.txt")"
}
imported() { grep -qE -- "$1" "$WORK/imp.txt" || fail "storage.import said: $(cat "$WORK/imp.txt")"; }
RELEASE=5 image rel5 pass
RELEASE=3 image rel3 pass
RELEASE=6 image rel6 pass
cp "$WORK/rel5.yaml" "$WORK/rel5b.yaml" && sed -i 's/"100"/"200"/' "$WORK/rel5b.yaml"
RELEASE=5 image rel5b pass
import_rc 0 rel5
snap() { (cd "$R" && find . -type f -printf '%p %s\n' | sort && cat state) >"$WORK/$1"; }
snap r.before
import_rc 3 rel3
imported "refusing image $WORK/rel3.zip: it is release 3, older than generation 1 of $R \(release 5\): a device never goes back to an older release"
import_rc 3 other
imported "refusing image $WORK/other.zip: it is without a release number, older than generation 1 of $R \(release 5\)"
import_rc 3 rel5b
imported "refusing image $WORK/rel5b.zip: it is release 5, as generation 1 of $R already is, with other contents: a new release needs a higher number"
snap r.after
cmp -s "$WORK/r.before" "$WORK/r.after" || fail "a refused image changed the store: $(diff "$WORK/r.before" "$WORK/r.after")"
import_rc 0 rel5
imported "is generation 1 of $R, current already"
RC=0
"$KOS_TOOL" run --storage "$R" "$WORK/rel3.zip" --trust "$KOS_TRUST" >"$OUT" 2>&1 || RC=$?
[ "$RC" -eq 3 ] || fail "run --storage with an older release: exit status $RC"
expect "it is release 3, older than generation 1"
# Overlays of release 5: 1, then 2; back to 1, or to release 5 itself,
# refused; release 6 after them.
RELEASE=5 OVERLAY=1 image rel5o1 pass
RELEASE=5 OVERLAY=2 image rel5o2 pass
import_rc 0 rel5o1
import_rc 0 rel5o2
import_rc 3 rel5o1
imported "refusing image $WORK/rel5o1.zip: it is release 5 overlay 1, older than generation 3 of $R \(release 5 overlay 2\): a device never goes back"
import_rc 3 rel5
imported "it is release 5, older than generation 3 of $R \(release 5 overlay 2\)"
import_rc 0 rel6
"$KOS_TOOL" storage.show "$R" >"$WORK/show.txt" 2>&1 || fail "storage.show: $(cat "$WORK/show.txt")"
# (generation 1, neither current nor good nor among the three newest, went.)
shows "^store $R: 3 generations; current 4, good 0"
shows "^  2 +rel5o1 +5\+1 +[0-9a-f]{16} "
shows "^  3 +rel5o2 +5\+2 +[0-9a-f]{16} "
shows "^  4 +rel6 +6 +[0-9a-f]{16} .* current$"
# A record whose release number is not its manifest's: the generation is
# damaged; the boot says what it found and falls back to the newest that
# verifies.
sed -i 's/^release 6$/release 9/' "$R/generations/4"
: >"$OUT"
"$KOS_TOOL" run --storage "$R" --trust "$KOS_TRUST" >"$OUT" 2>&1 &
PID=$!
wait_for "core: system 'rel5o2' ready"
expect "generation 4 of $R: its record says release 9, its manifest release 6"
stop_image TERM

# ---- the managing app may stage only the blobs the store named: one that
# asks for another (a compromised admin filling the store) is refused.
cat >"$WORK/mgr.yaml" <<EOF
system: mgr
base: minimal
apps:
  mgr:
    binary: t_app
    memory: 8MiB
    manages_system: true
    args: [manager, stage-stranger]
    waive:
      KOS-A019: "the test's manager stands in for admin, to drive Core's store requests"
EOF
"$KOS_TOOL" manifest.build "$WORK/mgr.yaml" -o "$WORK/mgr.zip" --key "$KOS_KEY" \
  --bin "t_app=$KOS_T_APP" >"$WORK/build.txt" 2>&1 || { cat "$WORK/build.txt" >&2; fail "cannot build mgr"; }
: >"$OUT"
"$KOS_TOOL" run --storage "$WORK/mstore" "$WORK/mgr.zip" --trust "$KOS_TRUST" >"$OUT" 2>&1 &
PID=$!
wait_for "mgr: info: manager: done"
expect "mgr: info: stage-stranger: unauthorized: blob abababababababab\.\.\. is not one the store needs"
expect "core: app 'mgr' asked to stage blob abababababababab\.\.\., which the store does not need for the image it last asked about; refused"
[ -z "$(ls -A "$WORK/mstore/incoming" 2>/dev/null)" ] || fail "a stranger blob was staged: $(ls "$WORK/mstore/incoming")"
stop_image TERM

# A folder that is not a store, and one of another format.
mkdir -p "$WORK/notstore" && echo hi >"$WORK/notstore/file"
RC=0
"$KOS_TOOL" run --storage "$WORK/notstore" "$WORK/other.zip" --trust "$KOS_TRUST" >"$OUT" 2>&1 || RC=$?
[ "$RC" -eq 2 ] || fail "a folder that is not a store: exit status $RC"
expect "is not a KOS store \(it has no kos-store file\) and is not empty: refusing to use it as one"
[ -e "$WORK/notstore/blobs" ] && fail "a folder that is not a store was written to"
echo "kos-store 9" >"$S/kos-store"
RC=0
"$KOS_TOOL" storage.show "$S" >"$OUT" 2>&1 || RC=$?
[ "$RC" -eq 1 ] || fail "a store of another format: exit status $RC"
expect "kos-store does not say \"kos-store 1\": a store of another format"
RC=0
"$KOS_TOOL" run --storage "$WORK/nothing" >"$OUT" 2>&1 || RC=$?
[ "$RC" -eq 3 ] || fail "an empty new store without an image: exit status $RC"
expect "holds no current generation: give an image to boot"

# ---- a self test that fails only once the system is stopping (the
# services it checks going away) is incomplete, not a failure: the
# generation is not marked failed, and kos-tool run ends with status 0.
image late_one late
S=$WORK/late_store
boot_store "$WORK/late_one.zip"
wait_for "core: system 'late_one' ready"
stop_image TERM
[ "$RC" -eq 0 ] || fail "a self test failing during the stop: exit status $RC, expected 0"
expect "core: self test incomplete: the system began stopping before app 'checker' reported; its report came during the stop \(1 of 1 checks failed: t_app: told to fail\)$"
expect_not "core: self test failed"
expect_not "generation 1 failed"
show
shows "^store $S: 1 generation; current 1, good 0 \\(current has had 1 of 1 boot to pass its self test\\)$"
grep -q "^failed" "$S/state" && fail "the state marks generation 1 failed: $(cat "$S/state")"
echo "PASS"
