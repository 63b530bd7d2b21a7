# log_server in a real system (memory only): records round-trip with the
# identity the message server vouches for, an app reads only its own
# records, a noisy app is rate-limited with its drops reported while a
# quiet app loses nothing, bad requests get errors, an app without the
# grant is refused.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

start_image "$KOS_IMAGES/log_basic.zip"
wait_for "quiet: info: quiet: query found [0-9]+ of mine"
wait_for "abuser: info: abuse: server still answers: "
wait_for "stranger: info: request kos_log_protocol: "
wait_for "roundtrip: info: query another app: "
wait_for "noisy: info: noisy: resumed: "
stop_image TERM

expect "log_server: warn: no data directory .*keeping records in memory only"
expect "log_server: info: serving kos_log_protocol: ring 4096 records, rate 20/s, burst 40$"

# round trip: the app is the caller, levels and text as written
expect "roundtrip: info: write info: ok$"
expect "roundtrip: info: got: seq [0-9]+ app roundtrip level 1 flags 0 text 'hello from the roundtrip'$"
expect "roundtrip: info: got: seq [0-9]+ app roundtrip level 3 flags 0 text 'an error 42'$"
expect "roundtrip: info: got: seq [0-9]+ app roundtrip level 0 flags 0 text 'line one$"
expect_count 2 "roundtrip: info: got: .*text 'an error 42'$" # mine, and warn+
expect_count 1 "roundtrip: info: got: .*text 'hello from the roundtrip'$"
expect "roundtrip: info: query mine: ok$"
expect "roundtrip: info: query every app: unauthorized$"
expect "roundtrip: info: query another app: unauthorized$"
expect_not "roundtrip: info: got: .* app (noisy|quiet|abuser) "

# rate limit: noisy loses records, all counted and reported; quiet loses none
line=$(grep -E "noisy: info: noisy: accepted [0-9]+ dropped [0-9]+ failed 0$" "$OUT") ||
  fail "no noisy summary"
accepted=$(sed -E 's/.*accepted ([0-9]+) .*/\1/' <<<"$line")
dropped=$(sed -E 's/.*dropped ([0-9]+) .*/\1/' <<<"$line")
[ "$dropped" -gt 0 ] || fail "the rate limit dropped nothing"
[ $((accepted + dropped)) -eq 1000 ] || fail "accepted + dropped != 1000"
expect "noisy: info: noisy: resumed: ok$"
expect "quiet: info: quiet: 60 of 60 accepted$"
expect "quiet: info: quiet: query found 60 of mine in order yes \(ok\)$"
expect "quiet: info: quiet: notice: '[0-9]+ records from app noisy dropped by the rate limit \(rate 20/s, burst 40\)'$"
expect "quiet: info: quiet: notices report $dropped dropped records from app noisy$"
# (noisy's last record may arrive before or after quiet asks)
expect "quiet: info: quiet: stats noisy: accepted ($accepted|$((accepted + 1))) dropped $dropped pending 0$"
expect "log_server: warn: rate limit: dropping records from app noisy$"
expect "log_server: warn: [0-9]+ records from app noisy dropped by the rate limit"
expect_not "log_server: warn: rate limit: dropping records from app quiet"

# bad requests
expect "abuser: info: abuse: unknown label: unsupported$"
expect "abuser: info: abuse: reserved label: invalid argument$" # refused by libkos
expect "abuser: info: abuse: bad level: invalid argument$"
expect "abuser: info: abuse: text over the limit: too large$"
expect "abuser: info: abuse: payload over 4096: too large$"
expect "abuser: info: abuse: NUL in text: invalid argument$"
expect "abuser: info: abuse: short query: invalid argument$"
expect "abuser: info: abuse: query app_len mismatch: invalid argument$"
expect "abuser: info: abuse: query bad level: invalid argument$"
expect "abuser: info: abuse: empty stats: invalid argument$"
expect "abuser: info: abuse: server still answers: ok$"

# no grant, no token
expect "stranger: info: request kos_log_protocol: unauthorized$"
expect "msg0: .*denied.*'stranger'.*'kos_log_protocol'"

expect_not "core: app 'log_server' .*restarting"
expect "log_server: info: stopping on request$"
expect "core: app 'log_server' stopped$"
expect_not "log_server: error"
expect_well_formed
echo "PASS"
