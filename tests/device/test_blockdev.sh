source "$(dirname "$0")/lib.sh"
echo PASS
