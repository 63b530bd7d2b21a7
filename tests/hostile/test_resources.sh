# Devices and memory regions arrive as fds, with exactly the granted access,
# and only in the apps granted them.
source "$(dirname "$0")/../system/lib.sh"

start_image "$KOS_IMAGES/resources.zip"
wait_for "core: system 'resources' ready"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"

expect "writer: info: wrote 'hello through shared memory' into region buf \(8192 bytes\)$"
expect "reader: info: read 'hello through shared memory' from region buf$"
expect "reader: info: mmap PROT_WRITE: Permission denied$"
expect "reader: info: write\(\): Bad file descriptor$"
expect "reader: info: mprotect PROT_WRITE: Permission denied$"
expect "reader: info: reopen read-write: (No such file or directory|Operation not permitted|Permission denied)$"
# fds: 0-3 (no message server: holder has no protocols), then the resources
# in manifest order.
expect "holder: info: resource zero: fd 4, character device, read-only, size 0$"
expect "holder: info: resource sink: fd 5, character device, write-only, size 0$"
expect "holder: info: resource buf: fd 6, memory, read-only, size 8192$"
expect "holder: info: read 4 bytes from zero: 0000$"
expect "holder: info: holds 7 fds$"
expect "bystander: info: resource buf: not found"
expect "bystander: info: resource zero: not found"
expect "bystander: info: holds 4 fds$"
expect_well_formed
echo "PASS"
