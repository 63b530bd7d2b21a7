# Seen from the host, every process of a running system - each sandbox's init
# and the app under it - holds no capability at all (effective, permitted,
# inheritable, bounding, ambient), has no_new_privs and a seccomp filter.
source "$(dirname "$0")/../system/lib.sh"

start_image "$KOS_IMAGES/resources.zip"
wait_for "core: system 'resources' ready"

# field PID NAME: the value of NAME in /proc/PID/status.
field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

check() {
  local pid=$1 what=$2 f v
  for f in CapInh CapPrm CapEff CapBnd CapAmb; do
    v=$(field "$pid" "$f")
    [ "$v" = "0000000000000000" ] || fail "$what (pid $pid) has $f $v, expected none"
  done
  [ "$(field "$pid" NoNewPrivs)" = "1" ] || fail "$what (pid $pid) lacks no_new_privs"
  [ "$(field "$pid" Seccomp)" = "2" ] || fail "$what (pid $pid) has no seccomp filter"
}

inits=$(pgrep -P "$PID" || true)
[ -n "$inits" ] || fail "Core has no children"
n_inits=0 n_apps=0
for init in $inits; do
  check "$init" "a sandbox init"
  n_inits=$((n_inits + 1))
  for app in $(pgrep -P "$init" || true); do
    check "$app" "an app"
    n_apps=$((n_apps + 1))
  done
done
# resources: msg0 and four apps, each under its own init.
[ "$n_inits" -eq 5 ] || fail "found $n_inits sandbox inits, expected 5"
[ "$n_apps" -eq 5 ] || fail "found $n_apps apps under them, expected 5"

stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
echo "PASS"
