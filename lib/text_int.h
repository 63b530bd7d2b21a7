/*
 * text_int.h - text an app wrote, made safe to show on a terminal.
 *
 * Whatever KOS prints that an app wrote goes through kos__text_escape():
 * Core's console, `kos-tool log.view`, log_server records shown as lines
 * (kos__logrec_format). So no app can drive the terminal that shows it (move
 * the cursor, erase, set the window title or the clipboard) or make its text
 * pass for another app's line or Core's.
 *
 * What stays true of the output:
 *  - it holds only printable ASCII (0x20-0x7e), tab, and the UTF-8 encodings
 *    of characters other than those below: never a C0 control but tab, DEL,
 *    a C1 control in either encoding, a byte that is not part of valid UTF-8,
 *    a line or paragraph separator or a bidirectional control;
 *  - each C0 control but tab, DEL, and each byte that is not part of a valid
 *    UTF-8 sequence (a stray continuation byte, 0xc0, 0xc1, 0xf5-0xff, an
 *    overlong form, a surrogate U+D800-DFFF, a code point above U+10FFFF, a
 *    sequence cut short) is shown as \xHH, two lowercase hex digits;
 *  - the valid encodings of the C1 controls U+0080-009F, of U+2028 (line
 *    separator) and U+2029 (paragraph separator), and of the bidirectional
 *    controls U+061C, U+200E, U+200F, U+202A-202E and U+2066-2069 are shown
 *    as \uHHHH, four lowercase hex digits;
 *  - the backslash itself is not escaped, so escaping is idempotent:
 *    escaping the output again changes nothing (log.view shows Core's own
 *    lines unchanged). The price: an app can write the six characters
 *    "\x1b[2J", which look like an escape; they are harmless text;
 *  - the output depends on the input bytes alone, never on how they arrived:
 *    a sequence cut by the end of the input is escaped byte by byte, as any
 *    invalid one. Where a text must be cut, kos__text_boundary() says where
 *    to cut so that no character is split.
 */
#ifndef KOS_TEXT_INT_H
#define KOS_TEXT_INT_H

#include <stddef.h>

/* The most bytes kos__text_escape() writes for `len` input bytes (\xHH for
 * each; \uHHHH stands for at least two). */
#define KOS__TEXT_ESCAPED_MAX(len) (4 * (size_t)(len))

/* Escapes in[0..len) into out[0..cap) as said above. Only whole characters
 * and whole escapes are written: if out is too small, it stops before the
 * first that does not fit. Returns the number of bytes written (no NUL is
 * added); sets *used, unless used is NULL, to the number of input bytes
 * taken, which is len whenever cap >= KOS__TEXT_ESCAPED_MAX(len). Never
 * blocks or allocates. */
size_t kos__text_escape(char *out, size_t cap, const char *in, size_t len, size_t *used);

/* Where to cut in[0..len) without splitting a character: len less the one to
 * three bytes at its end that begin a valid UTF-8 sequence the end cuts
 * short; len if there are none (an invalid sequence is not worth keeping
 * whole: it is escaped byte by byte wherever it is cut). */
size_t kos__text_boundary(const char *in, size_t len);

#endif
