# data_lib.sh - helpers for the /data tests (test_data_*.sh,
# test_uid_ranges.sh), sourced after ../system/lib.sh.

# Root is needed to be Core's privileged self and to act as other users.
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the /data tests run as root (they act as nobody and daemon too)"
  exit 77
fi

# as USER CMD...: runs CMD as USER, with no supplementary groups.
as() {
  local user=$1
  shift
  setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups -- "$@"
}

# state_dir [FILE]: the state directory Core said it uses.
state_dir() { sed -n 's/.* core: state directory: //p' "${1:-$OUT}" | tail -1; }

# reach USER PATH: whether USER can find PATH on the host at all.
reach() { as "$1" test -e "$2"; }

# start_image_as USER IMAGE [options...]: start_image, with Core run by USER
# (unprivileged). The command is run directly, so PID is Core's.
start_image_as() {
  local user=$1 gid
  gid=$(id -g "$1")
  shift
  : >"$OUT" # emptied before the job starts, as start_image does
  setpriv --reuid="$user" --regid="$gid" --clear-groups -- env -u XDG_RUNTIME_DIR \
    "$KOS_TOOL" run --trust "$KOS_TRUST" "$@" >>"$OUT" 2>&1 &
  PID=$!
}
