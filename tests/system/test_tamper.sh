# Core refuses an image whose blobs or signature do not verify, and says why.
source "$(dirname "$0")/lib.sh"

img=$KOS_EXAMPLES/ping_pong/ping_pong.zip

# A binary changed after signing (same entry name, different bytes).
python3 - "$img" "$WORK/tampered.zip" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    entries = [(i, zin.read(i.filename)) for i in zin.infolist()]
    big = max(entries, key=lambda e: len(e[1]))[0].filename
    for info, data in entries:
        if info.filename == big:
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        zout.writestr(info, data)
PY
run_image "$WORK/tampered.zip"
[ "$RC" -eq 3 ] || fail "tampered blob: exit status $RC, expected 3"
expect "core: refusing image .*tampered.zip: .*SHA-256"
expect_not "core: booting"

# Signed, but by a key we do not trust.
"$KOS_TOOL" keys.generate --release --out "$WORK/other" >/dev/null
set +e
"$KOS_TOOL" run --trust "$WORK/other/release.pub" "$img" >"$OUT" 2>&1
RC=$?
set -e
[ "$RC" -eq 3 ] || fail "untrusted key: exit status $RC, expected 3"
expect "core: refusing image .*: .*signature"

# No trusted key at all.
set +e
"$KOS_TOOL" run "$img" >"$OUT" 2>&1
RC=$?
set -e
[ "$RC" -eq 3 ] || fail "no key: exit status $RC, expected 3"
expect "core: refusing image .*trusted"

# Not an image.
echo "not a zip" >"$WORK/junk.zip"
run_image "$WORK/junk.zip"
[ "$RC" -eq 3 ] || fail "junk: exit status $RC, expected 3"
expect "core: refusing image .*junk.zip"

# A manifest that says signing: disabled boots unsigned, with a warning.
set +e
"$KOS_TOOL" run "$KOS_IMAGES/unsigned.zip" >"$OUT" 2>&1
RC=$?
set -e
[ "$RC" -eq 0 ] || fail "unsigned: exit status $RC, expected 0"
expect "core: WARNING: image .*unsigned.zip is not signed"
echo "PASS"
