# When a server app dies, its clients' tokens report KOS_STATUS_UNAVAILABLE
# (and keep doing so); a client waits for the server to be back by
# requesting again with a timeout, and goes on. Core never goes down.
source "$(dirname "$0")/lib.sh"

run_image "$KOS_IMAGES/restart.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_count 2 "server: info: answered 40 calls; crashing$"
expect "core: app 'server' killed by signal 11 \(Segmentation fault\) after [0-9]+ ms; restarting it in [0-9]+ ms \(permanent, restart 1 of 10 in a row\)$"
expect "core: app 'server' killed by signal 11 \(Segmentation fault\) after [0-9]+ ms; restarting it in [0-9]+ ms \(permanent, restart 2 of 10 in a row\)$"
expect_count 2 "client: info: call [0-9]+: server unavailable; waiting for it to be back$"
expect_count 2 "client: info: the old token still says: unavailable$"
expect "client: info: call 40: server unavailable"
expect "client: info: call 80: server unavailable"
expect "client: info: 100 calls answered through 2 outages$"
expect "core: app 'client' exited with status 0"
expect_not "client: error"
expect_well_formed
echo "PASS"
