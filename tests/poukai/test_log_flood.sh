# A client that floods log_server gets its records dropped by the rate limit
# and every drop reported in notice records, while log_server's console
# lines about it stay within their budget (10 at once, then one a second,
# each logged line counting those left out): no app floods the console
# through log_server.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

run_image "$KOS_IMAGES/log_flood.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
line=$(grep -E "flooder: info: flood: accepted [0-9]+ dropped [0-9]+ failed 0$" "$OUT") ||
  fail "no flood summary"
dropped=$(sed -E 's/.*dropped ([0-9]+) .*/\1/' <<<"$line")
[ "$dropped" -gt 100 ] || fail "the rate limit dropped only $dropped records"
# Every drop is in a notice record ...
expect "flooder: info: flood: notices report $dropped dropped records; stats: dropped $dropped pending 0$"
# ... but the console hears of them within the budget, and says so.
expect "log_server: warn: rate limit: dropping records from app flooder$"
expect_within_budget "log_server: warn: .*app flooder" 10 1000
expect "log_server: warn: .* \(and [0-9]+ more lines about app 'flooder' not logged\)$"
expect_not "log_server: error"
expect_well_formed
echo "PASS"
