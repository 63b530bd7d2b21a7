# Issue 8, item 2: an app plants a setuid file and world-writable entries in
# its /data. No other local user reaches them on the host, whether Core runs
# as root (the data is a file system no host path leads to) or as a user
# (the state directory is that user's, mode 0700).
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/data_lib.sh"

check() { # WHO_RUNS_CORE OTHER_USER
  wait_for "planter: info: suid: "
  STATE=$(state_dir)
  [ -n "$STATE" ] || fail "Core did not say where its state directory is"
  as "$2" ls "$STATE" >/dev/null 2>&1 && fail "$2 can list $STATE (Core runs as $1)"
  for p in data data/planter data/planter/suid data/planter/ww data/planter/ww/file; do
    reach "$2" "$STATE/$p" && fail "$2 can reach $STATE/$p (Core runs as $1)"
  done
  as "$2" "$STATE/data/planter/suid" >/dev/null 2>&1 && fail "$2 ran the planted file"
  if [ "$1" = root ]; then
    # No host path leads to anything the app made.
    [ -z "$(find "$STATE" -perm /6000 -o -perm -0002 ! -type l)" ] ||
      fail "setuid or world-writable entries on the host: $(find "$STATE" -perm /6000 -o -perm -0002 ! -type l)"
    [ ! -e "$STATE/data/planter/suid" ] || fail "the planted file is on the host: $STATE/data/planter/suid"
  fi
  stop_image TERM
  [ "$RC" -eq 0 ] || fail "exit status $RC, expected 0 (Core runs as $1)"
}

start_image "$KOS_IMAGES/data_suid.zip"
check root nobody

start_image_as nobody "$KOS_IMAGES/data_suid.zip"
check nobody daemon
echo "PASS"
