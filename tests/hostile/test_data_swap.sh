# Issue 8, item 1: an app makes its /data and a folder in it world-writable;
# when Core starts removing that folder with the fresh state directory at
# exit, a local user swaps it for a symbolic link to a root-owned canary.
# Core must not delete a single canary file (before the fix it deleted
# nearly all 3000), and the local user must not even reach the app's data.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/data_lib.sh"

CANARY=$WORK/canary
mkdir -m 755 "$CANARY"
for i in $(seq 0 2999); do : >"$CANARY/canary_$i"; done
chmod 755 "$WORK"

start_image "$KOS_IMAGES/data_swap.zip"
# (Where the sandbox refuses world-writable modes, the app's chmods fail;
# the attack is then moot, and the checks below hold all the more.)
wait_for "opener: info: open_up: /data 0777 \(.*\), /data/open 0777 \(.*\) with 3000 files$"
STATE=$(state_dir)
[ -n "$STATE" ] || fail "Core did not say where its state directory is"

# The local user's view while the system runs.
as nobody ls "$STATE" >/dev/null 2>&1 && listed=yes || listed=no
reach nobody "$STATE/data/opener/open" && reached=yes || reached=no

# The swap: the local user watches the folder (inotify) and, the moment Core
# opens it to remove what it holds, puts a link to the canary in its place.
cat >"$WORK/swap.py" <<'PY'
import ctypes, os, select, sys
d, canary, stop = sys.argv[1], sys.argv[2], sys.argv[3]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
IN_OPEN = 0x20
ino = libc.inotify_init()
if libc.inotify_add_watch(ino, (d + "/open").encode(), IN_OPEN) < 0:
    print("cannot watch %s/open: %s" % (d, os.strerror(ctypes.get_errno())))
    sys.exit(0)
print("watching", flush=True)
while not os.path.exists(stop):
    if select.select([ino], [], [], 0.05)[0]:
        os.rename(d + "/open", d + "/open.away")
        os.symlink(canary, d + "/open")
        print("swapped %s/open for a link to %s" % (d, canary))
        break
PY
as nobody /usr/bin/python3 "$WORK/swap.py" "$STATE/data/opener" "$CANARY" "$WORK/stop" \
  >"$WORK/swaps" 2>&1 &
SWAPPER=$!
for _ in $(seq 100); do grep -qE "watching|cannot watch" "$WORK/swaps" && break; sleep 0.1; done
stop_image TERM
touch "$WORK/stop"
wait "$SWAPPER" || true
echo "the local user: $(tr '\n' ' ' <"$WORK/swaps")"

left=$(find "$CANARY" -name 'canary_*' | wc -l)
[ "$left" -eq 3000 ] || fail "Core deleted $((3000 - left)) of the 3000 root-owned canary files"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
[ ! -e "$STATE" ] || fail "the fresh state directory $STATE is still there"
[ "$listed" = no ] || fail "nobody could list the state directory $STATE"
[ "$reached" = no ] || fail "nobody could reach the app's folder $STATE/data/opener/open"
expect_well_formed
echo "PASS"
