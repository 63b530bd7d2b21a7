# console_safe.py FILE [APP] - checks that a console stream (Core's output,
# a --console file, or log.view's output) is safe to show on a terminal:
# strict UTF-8, no C0 control but tab (and the newline ending each line), no
# DEL, no C1 control (8-bit bytes are not valid UTF-8, so the decode refuses
# them), no line or paragraph separator, no bidirectional control. With APP,
# also that "self test passed" appears only in lines of APP (its forged
# lines stay text of its own lines). Prints what is wrong and exits 1.
import re
import sys

BAD = set(range(0x00, 0x20)) - {0x09} | {0x7F} | set(range(0x80, 0xA0))
BAD |= {0x2028, 0x2029, 0x061C, 0x200E, 0x200F} | set(range(0x202A, 0x202F))
BAD |= set(range(0x2066, 0x206A))

path = sys.argv[1]
app = sys.argv[2] if len(sys.argv) > 2 else None
data = open(path, "rb").read()
errors = []
if data and not data.endswith(b"\n"):
    errors.append("the stream does not end with a newline")
for no, raw in enumerate(data.split(b"\n")[:-1] if data else [], 1):
    try:
        line = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        errors.append(f"{path}:{no}: not UTF-8 ({e}): {raw!r}")
        continue
    for ch in line:
        if ord(ch) in BAD:
            errors.append(f"{path}:{no}: U+{ord(ch):04X} left raw: {line!r}")
            break
    if app and "self test passed" in line and not re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z " + re.escape(app) + ": ", line
    ):
        errors.append(f"{path}:{no}: a line not of {app} says self test passed: {line!r}")
for e in errors[:20]:
    print(e)
sys.exit(1 if errors else 0)
