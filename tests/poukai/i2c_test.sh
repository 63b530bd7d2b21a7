# i2c_server in booted systems: the example's temperature, EEPROM write and
# read-back, NACK on an absent address, per-address refusals, refusal without
# the protocol, malformed requests, and a bad allow list.
source "$(dirname "$0")/../system/lib.sh"

# The example (on the Poukai layer, with a device key bundle): five readings
# of a simulated 23.5 degC rising 0.25 per reading, each kept in the log.
"$KOS_TOOL" keys.generate --device --out "$WORK/device" --trust "$KOS_TRUST" >/dev/null ||
  fail "keys.generate --device failed"
run_image "$KOS_EXAMPLES/i2c_sensor/i2c_sensor.zip" --keys "$WORK/device"
[ "$RC" -eq 0 ] || fail "i2c_sensor: exit status $RC, expected 0"
expect "^\S+ i2c_server: info: serving kos_i2c_protocol$"
expect "^\S+ sensor: info: TMP102 at 0x48, configuration 0x60a0$"
expect "^\S+ core: self test passed: msg0 ok \(ping\); rng ok .*; log ok .*; key_store ok .*; ping kos_ethernet_protocol ok \(5 checks\)$"
expect_not "sensor: warn: the log did not keep"

for t in 23.50 23.75 24.00 24.25 24.50; do
  expect "^\S+ sensor: info: temperature $t C$"
done
expect_count 5 "sensor: info: temperature "
expect "^\S+ sensor: info: done: 5 readings$"
expect "^\S+ core: system stopped \(exit status 0\)$"
expect_well_formed

# Transfers an allowed app makes.
run_image "$KOS_IMAGES/i2c_bus.zip"
[ "$RC" -eq 0 ] || fail "i2c_bus: exit status $RC, expected 0"
expect "^\S+ tester: info: open: ok$"
expect "^\S+ tester: info: funcs: ok, i2c yes$"
# -12.25 degC = -196/16 = 0xf3c in 12 bits, left-justified: 0xf3c0.
expect "^\S+ tester: info: temp: ok, register 0xf3c0$"
expect "^\S+ tester: info: eeprom: byte 0x10 reads back 0x5a$"
# Written from 0x26: a0 a1 land at 0x26 0x27, a2..a7 wrap to 0x20..0x25.
expect "^\S+ tester: info: eeprom: page 0x20 reads a2 a3 a4 a5 a6 a7 a0 a1$"
expect "^\S+ tester: info: eeprom: 0xfe.. reads ff 77 11$"
expect "^\S+ tester: info: probe 0x33: not found \(ENXIO, message 0\)$"
expect "^\S+ tester: info: read 0x33: not found \(ENXIO, message 0\)$"
expect "^\S+ tester: info: garbage short header: protocol error$"
expect "^\S+ tester: info: garbage lying length: protocol error$"
expect "^\S+ tester: info: garbage unknown label: unsupported$"
expect "^\S+ tester: info: steps done$"
expect_not "i2c_server: warn: denied"
expect_well_formed

# Addresses outside an app's allowance are refused and logged.
run_image "$KOS_IMAGES/i2c_denied.zip"
[ "$RC" -eq 0 ] || fail "i2c_denied: exit status $RC, expected 0"
expect "^\S+ limited: info: probe 0x50: ok$"
expect "^\S+ limited: info: read 0x48: unauthorized$"
expect "^\S+ limited: info: probe 0x33: unauthorized$"
expect "^\S+ i2c_server: warn: denied: 'limited' may not reach address 0x48 "
expect "^\S+ i2c_server: warn: denied: 'limited' may not reach address 0x33 "
# Every read of the flood is refused, but i2c_server logs only limited's
# budget of them (10 at once, then one a second): far fewer than 500 lines.
expect "^\S+ limited: info: flood: 500 of 500 refused$"
n=$(grep -c "i2c_server: warn: denied: 'limited'" "$OUT" || true)
[ "$n" -ge 10 ] || fail "expected at least the burst of 10 logged denials of 'limited', found $n"
expect_within_budget "i2c_server: warn: denied: 'limited'" 10 1000
expect "^\S+ i2c_server: info: stopping: [0-9]+ transfers, [0-9]+ bus faults, 502 denied$"

# Without kos_i2c_protocol granted, the message server refuses the request.
run_image "$KOS_IMAGES/i2c_noproto.zip"
[ "$RC" -eq 0 ] || fail "i2c_noproto: exit status $RC, expected 0"
expect "^\S+ outsider: info: open: unauthorized$"
expect "^\S+ msg0: .*denied.*'outsider'.*'kos_i2c_protocol'"

# A malformed allow list stops the server with a message naming the problem.
run_image "$KOS_IMAGES/i2c_badconfig.zip"
expect "^\S+ i2c_server: error: allow: expected APP=ADDRESS,... at offset 0 \('sensor 0x48'\)$"
expect "^\S+ core: app 'i2c_server' exited with status 1"
echo "PASS"
