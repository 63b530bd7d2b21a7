# A request the manifest does not grant is refused and logged.
source "$(dirname "$0")/lib.sh"

run_image "$KOS_IMAGES/denied.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "asker: info: request 'echo_protocol': ok$"
expect "asker: info: call 'echo_protocol': ok, echo param 42$"
expect "asker: info: request 'secret_protocol': unauthorized$"
expect "msg0: .*denied.*'asker'.*'secret_protocol'"
expect_not "msg0: .*denied.*'echo_protocol'"
echo "PASS"
