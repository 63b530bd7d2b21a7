#!/usr/bin/env bash
# The README's first command after install-deps.sh: builds KOS, starts
# Studio (docs/studio.md) with a data folder of its own in the build tree
# (build/dev/studio: never the user's own), provisions a sim device for it
# (a key bundle in build/dev/demo, made once and reused), builds a small
# Poukai system whose tunnel may reach the Studio's device port and whose
# sensor logs a reading every 2 s, boots it on that device, and prints the
# address to open. It runs until Ctrl-C, then stops the device and Studio.
#
# With CI=true it checks instead, through Studio's API, that the device is
# online with its system and health and that its console reaches Studio,
# prints what it saw, stops everything and exits 0; if that does not happen
# within 120 s it says what is missing and exits 1. Either way it leaves no
# process behind.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset dev >/dev/null
cmake --build --preset dev -j "$(nproc)"

B=build/dev
T=$B/bin/kos-tool
TRUST=$B/kos-keys/release.pub
STUDIO=$B/studio # the demo's Studio: its data folder
DEMO=$B/demo     # the device's key bundle, the system, the device's console
SYSTEM=studio_demo
WAIT=120 # seconds for the device to show up in Studio
mkdir -p "$DEMO"

say() { echo "demo: $*"; }
die() {
  echo "demo: $*" >&2
  exit 1
}

# ---- stopping what the demo started, whatever happens
DEV_PID=
stop_device() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap - EXIT INT TERM
  stop_device "$DEV_PID"
  rm -f "$DEMO/device.pid"
  if "$T" server.status --data "$STUDIO" >/dev/null 2>&1; then
    "$T" server.stop --data "$STUDIO" >/dev/null || true
    say "stopped the device and Studio"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# An earlier demo stopped by force may have left its device and Studio:
# stop them first (only the demo's own: its device's pid, its data folder).
if [ -s "$DEMO/device.pid" ]; then
  old=$(cat "$DEMO/device.pid")
  if [ "$(cat /proc/"$old"/comm 2>/dev/null)" = kos-tool ]; then
    say "stopping the device an earlier demo left running (pid $old)"
    kill -TERM "$old" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$DEMO/device.pid"
fi
if "$T" server.status --data "$STUDIO" >/dev/null 2>&1; then
  say "stopping the Studio an earlier demo left running"
  "$T" server.stop --data "$STUDIO" >/dev/null
fi

# ---- Studio, on a device port that stays the same for its data folder
# (the device's bundle names it): 7453 if free the first time, else any.
if [ ! -s "$DEMO/device_port" ]; then
  python3 -c '
import socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 7453))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' >"$DEMO/device_port"
fi
DEVICE_PORT=$(cat "$DEMO/device_port")
"$T" server.start --data "$STUDIO" --port 0 --device-port "$DEVICE_PORT" >"$DEMO/studio.txt" 2>&1 ||
  die "Studio did not start: $(cat "$DEMO/studio.txt")
(the demo keeps its device port in $DEMO/device_port; remove $DEMO to start the demo afresh)"
rt() { awk -v k="$1" '$1 == k { print $2 }' "$STUDIO/studio.run"; }
URL=$(rt url)
SECRET=$(rt secret)

# studio_api WHAT ID [ARGS]: asks Studio's API (python3's urllib):
#   state ID        the device's state (fails if Studio does not know it)
#   last ID         the server's number of the device's newest log record
#   seen ID AFTER   succeeds if the device is online with the demo's system,
#                   its health, and a sensor reading numbered above AFTER
#                   (this boot's), and prints what it saw
studio_api() {
  KOS_URL=$URL KOS_SECRET=$SECRET KOS_SYSTEM=$SYSTEM python3 -c '
import json, os, sys, urllib.request

def get(route):
    req = urllib.request.Request(os.environ["KOS_URL"] + "api/" + route,
                                 headers={"Authorization": "Bearer " + os.environ["KOS_SECRET"]})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)

def records(dev, after):
    out = []
    while True:
        page = get("devices/%s/logs?after=%d&limit=1000" % (dev, after))
        out += page["records"]
        if len(page["records"]) < 1000:
            return out
        after = page["next"]

what, dev = sys.argv[1], sys.argv[2]
if what == "state":
    print(get("devices/" + dev)["state"])
elif what == "last":
    recs = records(dev, 0)
    print(recs[-1]["seq"] if recs else 0)
else:
    d = get("devices/" + dev)
    logs = records(dev, int(sys.argv[3]))
    readings = [r for r in logs if r["app"] == "sensor" and "temperature" in r["text"]]
    if d["state"] != "online" or d["system"] != os.environ["KOS_SYSTEM"] or not d["health"] \
            or not readings:
        sys.exit(1)
    h = d["health"]
    print("device %r (%s) is %s in Studio: system %r, image %s, on %s, KOS %s" %
          (d["name"], d["key_id"], d["state"], d["system"], d["image"][:16], d["platform"],
           d["kos_version"]))
    print("health: self test %s; %d processes, %d of them running" %
          (h["self_test"] or "not reported yet", len(h["apps"]),
           len([a for a in h["apps"] if a["state"].startswith("running")])))
    print("console: %d records from this boot so far; the latest reading: %s: %s" %
          (len(logs), readings[-1]["app"], readings[-1]["text"]))
' "$@"
}

# ---- the device's key bundle: made once, and again if this Studio does
# not know it (its data folder or CA made anew, the device revoked)
BUNDLE=$DEMO/device
ID=$(cat "$DEMO/device.id" 2>/dev/null || true)
state=$( [ -n "$ID" ] && studio_api state "$ID" 2>/dev/null || true)
if [ -z "$state" ] || [ "$state" = revoked ] || [ ! -f "$BUNDLE/bundle.txt" ] ||
  ! cmp -s "$BUNDLE/server_ca.crt" "$STUDIO/ca.crt" ||
  ! grep -qx "address 127.0.0.1:$DEVICE_PORT" "$BUNDLE/server.txt"; then
  rm -rf "$BUNDLE" "$DEMO/device.id"
  "$T" keys.generate --device --out "$BUNDLE" --trust "$TRUST" --server studio --data "$STUDIO" \
    --name demo-device >"$DEMO/provision.txt" 2>&1 || die "cannot provision the device: $(cat "$DEMO/provision.txt")"
  ID=$(sed -n 's/.*(device id \([0-9a-f]\{64\}\)).*/\1/p' "$DEMO/provision.txt")
  [ -n "$ID" ] || die "keys.generate did not say the device id: $(cat "$DEMO/provision.txt")"
  echo "$ID" >"$DEMO/device.id"
  say "provisioned the device 'demo-device' (${ID:0:16}) in $BUNDLE"
fi

# ---- the system: the Poukai layer, its tunnel granted the device port, and
# the i2c_sensor example's sensor reading a simulated TMP102 every 2 s
cat >"$DEMO/$SYSTEM.yaml" <<EOF
# Made by scripts/demo.sh: the system of the README's first command.
system: $SYSTEM
base: poukai
apps:
  ethernet:
    config: {allow: "tunnel=tcp:127.0.0.1:$DEVICE_PORT"}
  i2c_server:
    binary: i2c_server
    memory: 8MiB
    config:
      backend: sim
      devices: "tmp102@0x48"
      temperature: 21.5
      temperature_step: 0.0625
      allow: "sensor=0x48"
    protocols:
      msg0:
        publish: [kos_i2c_protocol]
  sensor:
    binary: temp_sensor
    memory: 8MiB
    args: [--count, "1000000", --period-ms, "2000"]
    protocols:
      msg0:
        request: [kos_i2c_protocol, kos_log_protocol]
EOF
"$T" manifest.build "$DEMO/$SYSTEM.yaml" -o "$DEMO/$SYSTEM.zip" --key "$B/kos-keys/release.key" \
  --bin "temp_sensor=$B/examples/i2c_sensor/temp_sensor" --strict >"$DEMO/build.txt" 2>&1 ||
  die "cannot build the demo's system: $(cat "$DEMO/build.txt")"

# ---- the device; what it logs from now on is this boot's
AFTER=$(studio_api last "$ID") || die "cannot read the device's log records from Studio"
"$T" run "$DEMO/$SYSTEM.zip" --trust "$TRUST" --keys "$BUNDLE" >"$DEMO/console.txt" 2>&1 &
DEV_PID=$!
echo "$DEV_PID" >"$DEMO/device.pid"

rm -f "$DEMO/seen.txt"
for _ in $(seq $((WAIT * 2))); do
  kill -0 "$DEV_PID" 2>/dev/null || die "the device stopped: $(tail -20 "$DEMO/console.txt")"
  studio_api seen "$ID" "$AFTER" >"$DEMO/seen.txt" 2>/dev/null && break
  rm -f "$DEMO/seen.txt"
  sleep 0.5
done
[ -s "$DEMO/seen.txt" ] || die "the device did not show up online in Studio, with its system, health
and a sensor reading, within $WAIT s (its console: $DEMO/console.txt; Studio's log:
$STUDIO/server.log). The last lines of its console:
$(tail -20 "$DEMO/console.txt")"

if [ "${CI:-}" = true ]; then
  say "checked through Studio's API:"
  sed 's/^/  /' "$DEMO/seen.txt"
  exit 0
fi

cat <<EOF

KOS Studio is running, with a sim device connected to it:
$(sed 's/^/  /' "$DEMO/seen.txt")

Open this address in a browser:

  ${URL}?secret=$SECRET

The device's page shows its apps (each with a Restart button), its health
and its live console: the sensor logs a reading every 2 s. The device's
console is also in $DEMO/console.txt.
Press Ctrl-C to stop the device and Studio.
EOF
wait "$DEV_PID" || true
DEV_PID=
die "the device stopped by itself: $(tail -5 "$DEMO/console.txt")"
