#!/bin/bash
# The boot store's generations in the device's health report
# (docs/storage.md, docs/studio.md "The API"), each with its release number
# (releases 1, 2 and 3): a provisioned sim device
# booting from a store (kos-tool run --storage DIR) linked to a Studio.
# The API shows generation 1 current, good and running once its self test
# passed; a second image stored with storage.import and booted, whose self
# test never reports, shows generation 2 current, running and on trial
# (one boot counted) and 1 good; stopped before it reported, it failed and
# the next boot, of 1, shows 2 failed; a third image that passes becomes
# current and good, 1 kept. A device booted from an image file, without
# a store, shows none.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST and KOS_KEY (a release key
# pair), KOS_T_APP (tests/system/t_app).
. "$(dirname "$0")/studio_lib.sh"
store_device
# Its self test never reports: t_app in the layer's self_test's place.
NEVER="$APPS
  self_test:
    binary: t_app
    args: [selftest, never]"


start_studio
provision_device gens-1
build_system "$WORK/one.zip" gens_one "$APPS" "release: 1"
build_system "$WORK/two.zip" gens_two "$NEVER" "release: 2"
build_system "$WORK/three.zip" gens_three "$APPS" "release: 3"

# ---- generation 1: current, good, running once its self test passed
boot_store "$WORK/one.zip"
wait_online ticker
until_ok 30 "generation 1 passing" in_console "core: boot store: generation 1 passed its self test"
wait_gens "running 1; 1 r1 current,good,running passed 0"
api "api/devices/$ID" | python3 -c '
import json, re, sys
g = json.load(sys.stdin)["health"]["store"]["generations"][0]
assert re.fullmatch("[0-9a-f]{16}", g["signer"]), g
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", g["created"]), g
' || die "generation 1's signer or time"
stop_device

# ---- generation 2 imported and booted: on trial until it passes
run 0 storage.import "$S" "$WORK/two.zip" --trust "$KOS_TRUST"
boot_store --self-test-timeout 600000
wait_online ticker
until_ok 30 "generation 2 on trial" in_console "core: boot store: generation 2 is new: boot 1 of 1"
wait_gens "running 2; 1 r1 good passed 0; 2 r2 current,running on trial 1"
# Stopped before it reported: it failed, and current is 1 again.
stop_device
boot_store
wait_online ticker
wait_gens "running 1; 1 r1 current,good,running passed 0; 2 r2 - failed 0"
run 0 storage.show "$S"
expect out "^  2 +gens_two .* failed$"
stop_device

# ---- a third that passes: current and good; 1 kept
run 0 storage.import "$S" "$WORK/three.zip" --trust "$KOS_TRUST"
boot_store
wait_online ticker
wait_gens "running 3; 1 r1 - kept 0; 2 r2 - failed 0; 3 r3 current,good,running passed 0"
stop_device

# ---- no store: none, said so
boot_device "$WORK/one.zip"
wait_online ticker
until_ok 30 "a health report without a store" sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID' | grep -q '\"store\": *null'"
wait_gens "none"
echo PASS
