# An app holds exactly the descriptors its manifest grants (and the tracing
# ring Core gives every process, last: docs/messages.md, "Tracing") and
# exactly the manifest's environment, whatever kos-tool run itself was
# started with.
source "$(dirname "$0")/lib.sh"

exec 7</dev/null
LEAKY_SECRET=should-not-pass run_image "$KOS_IMAGES/inspect.zip"
exec 7<&-
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "inspector: info: inspect done$"
fds=$(grep -oE 'inspector: info: fd [0-9]+' "$OUT" | awk '{print $NF}' | sort -n | tr '\n' ' ')
[ "$fds" = "0 1 2 3 4 5 " ] || fail "open fds were '$fds', expected '0 1 2 3 4 5 '"
expect "inspector: info: fd 0 -> /dev/null$"
expect "inspector: info: fd 3 -> socket:"
expect "inspector: info: fd 4 -> socket:"
expect "inspector: info: fd 5 -> (/memfd:kos-trace \\(deleted\\)|mode 0100[0-7]+)$"
envs=$(grep -oE 'inspector: info: env .*' "$OUT" | sed 's/inspector: info: env //' | tr '\n' ' ')
[ "$envs" = "ONLY_THIS=yes " ] || fail "environment was '$envs', expected only ONLY_THIS=yes"
echo "PASS"
