# examples/protobuf_example: the sensor sends three protobuf Readings, the
# collector unpacks each and answers with an Ack holding the running mean.
source "$(dirname "$0")/../system/lib.sh"

run_image "$KOS_EXAMPLES/protobuf_example/protobuf_example.zip"
[ "$RC" -eq 0 ] || fail "protobuf_example: exit status $RC, expected 0"
expect "^\S+ msg0: app 'collector' publishes 'weather_protocol'$"
expect "^\S+ sensor: info: sending reading 1: 18.75 C, 41% \(16 bytes\)$"
expect "^\S+ collector: info: reading 1 from 'sensor' at rooftop: 18.75 C, 41%$"
expect "^\S+ sensor: info: ack 1: 1 readings, mean 18.75 C$"
expect "^\S+ collector: info: reading 2 from 'sensor' at rooftop: 19.00 C, 42%$"
expect "^\S+ sensor: info: ack 2: 2 readings, mean 18.87 C$"
expect "^\S+ collector: info: reading 3 from 'sensor' at rooftop: 19.25 C, 43%$"
expect "^\S+ sensor: info: ack 3: 3 readings, mean 19.00 C$"
expect "^\S+ sensor: info: done: 3 readings acknowledged$"
expect_not "collector: warn"
expect "^\S+ core: system stopped \(exit status 0\)$"
expect_well_formed
echo "PASS"
