# build.sh VERSION_FILE IMAGE OUT: copies IMAGE to OUT, unless VERSION_FILE
# says "broken".
if grep -q broken "$1"; then
  echo "version.txt:1: error: this version is broken" >&2
  exit 1
fi
cp "$2" "$3"
