#!/usr/bin/env python3
"""extract.py - pulls the code out of the docs for tests/docs/test_docs.sh.

    extract.py OUTDIR DOC.md...

Reads each Markdown file and writes, under OUTDIR (which must exist):

  c/NNN.c        each ```c block as a translation unit ready to compile, with
                 #line directives pointing back into the doc; c/list has one
                 line per file: "NNN.c KIND DOC:LINE", KIND being `program`
                 (a complete file with main(): compiled and linked), `unit` (a
                 complete file without main(): compiled) or `fragment`
  sh/NNN.sh      each ```sh block that runs kos-tool and is not marked
                 no-run, with its setup lines first; sh/list has one line per
                 block, in document order: "NNN.sh DOC DOC:LINE"
  commands       every kos-tool command the docs show, one per line as
                 "DOC:LINE<TAB>command": the lines of fenced blocks (any
                 language) that start with `kos-tool` (with their synopsis
                 continuation lines joined), and inline `kos-tool ...` spans
  fuzz_loop      the target list of docs/fuzzing.md's seed regeneration loop
  skipped        blocks not compiled or not run, with the reason given

The markers are described in tests/docs/README.md: an HTML comment
`<!-- doc-test: KIND ... -->` ending on the line before a block's fence.
A malformed or misplaced marker is an error naming the file and line, and
the exit status is then 1.
"""
import os
import re
import sys

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([A-Za-z0-9_+-]*)\s*$")
MARKER_START = re.compile(r"^\s*<!--\s*doc-test:\s*(.*)$")
INLINE = re.compile(r"`(kos-tool [^`]*)`")
# A line at the left margin that starts a function definition: the head,
# then a line that is just "{".
FUNC_HEAD = re.compile(r"^[A-Za-z_][A-Za-z0-9_ \t\*]*\([^;{}]*\)\s*$")

# What a fragment gets without asking: the C library pieces examples use and
# the core app API. A service's header (kos/rng.h, ...) a fragment includes
# itself, as an app would.
FRAGMENT_HEAD = """\
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kos/app.h>
#include <kos/log.h>
#include <kos/msg.h>
#include <kos/status.h>
"""

errors = []


def error(where, msg):
    errors.append(f"{where}: {msg}")


class Block:
    def __init__(self, doc, line, lang, text, marker, marker_line):
        self.doc, self.line, self.lang = doc, line, lang
        self.text = text  # the block's lines, indentation removed
        self.marker = marker  # (kind, reason, body lines) or None
        self.marker_line = marker_line

    @property
    def where(self):
        return f"{self.doc}:{self.line}"


def parse_marker(lines, doc, lineno):
    """Parses the comment lines[0..] (first line matched MARKER_START).
    Returns (kind, reason, body, end index) or None after an error."""
    first = MARKER_START.match(lines[0]).group(1)
    body, end = [], 0
    if "-->" in first:
        head = first[: first.index("-->")].strip()
    else:
        head = first.strip()
        end = 1
        while end < len(lines) and "-->" not in lines[end]:
            body.append(lines[end].rstrip("\n"))
            end += 1
        if end == len(lines):
            error(f"{doc}:{lineno}", "doc-test marker is not closed with -->")
            return None
        if lines[end].strip() != "-->":
            error(f"{doc}:{lineno + end}", "put the closing --> of a doc-test marker on a line of its own")
            return None
    kind, _, reason = head.partition(":")
    kind, reason = kind.strip(), reason.strip()
    if kind not in ("fragment", "skip", "run", "no-run"):
        error(f"{doc}:{lineno}", f"unknown doc-test marker '{kind}' (fragment, skip, run or no-run)")
        return None
    if kind in ("skip", "no-run") and not reason:
        error(f"{doc}:{lineno}", f"doc-test: {kind} needs a reason: <!-- doc-test: {kind}: WHY -->")
        return None
    return kind, reason, body, end


def read_doc(path, rel):
    """The blocks of one doc, and its inline kos-tool spans."""
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    blocks, spans = [], []
    pending, pending_end = None, -2  # a marker and the index of its last line
    i = 0
    while i < len(lines):
        line = lines[i]
        m = MARKER_START.match(line)
        if m:
            parsed = parse_marker(lines[i:], rel, i + 1)
            if parsed is None:
                i += 1
                continue
            kind, reason, body, end = parsed
            if pending is not None:
                error(f"{rel}:{pending[3]}", "doc-test marker is not followed by a code block")
            pending = (kind, reason, body, i + 1)
            pending_end = i + end
            i += end + 1
            continue
        f = FENCE.match(line)
        if f:
            indent, fence, lang = f.group(1), f.group(2), f.group(3)
            start = i
            text = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*" + re.escape(fence) + r"\s*$", lines[i]):
                t = lines[i].rstrip("\n")
                text.append(t[len(indent):] if t.startswith(indent) else t.lstrip())
                i += 1
            marker = None
            if pending is not None:
                if pending_end == start - 1:
                    marker = pending
                else:
                    error(f"{rel}:{pending[3]}", "doc-test marker must end on the line before the code block")
                pending = None
            blocks.append(Block(rel, start + 1, lang, text, marker, marker[3] if marker else 0))
            i += 1
            continue
        if pending is not None and line.strip():
            error(f"{rel}:{pending[3]}", "doc-test marker is not followed by a code block")
            pending = None
        for s in INLINE.finditer(line):
            spans.append((f"{rel}:{i + 1}", s.group(1)))
        i += 1
    if pending is not None:
        error(f"{rel}:{pending[3]}", "doc-test marker is not followed by a code block")
    return blocks, spans


def split_fragment(text):
    """Splits a fragment's lines into #include lines, function definitions
    (a head at the left margin, then "{" ... "}" at the left margin), and
    the rest, each item a (line number in the block, text) pair."""
    includes, funcs, body = [], [], []
    i = 0
    while i < len(text):
        t = text[i]
        if t.startswith("#include"):
            includes.append((i, t))
            i += 1
        elif FUNC_HEAD.match(t) and i + 1 < len(text) and text[i + 1] == "{":
            j = i + 1
            while j < len(text) and text[j] != "}":
                j += 1
            funcs.extend((k, text[k]) for k in range(i, min(j + 1, len(text))))
            i = j + 1
        else:
            body.append((i, t))
            i += 1
    return includes, funcs, body


def elide(t):
    """A line that begins with `...` stands for code left out."""
    s = t.lstrip()
    if s.startswith("..."):
        return t[: len(t) - len(s)] + "{ }" + s[3:]
    return t


def with_lines(items, block, first_line):
    """Lines with a #line directive wherever the numbering jumps."""
    out, expect = [], None
    for k, t in items:
        n = first_line + k
        if n != expect:
            out.append(f'#line {n} "{block.doc}"')
        out.append(elide(t))
        expect = n + 1
    return out


def c_unit(block):
    first = block.line + 1  # the line after the fence
    if block.marker is None:
        kind = "program" if re.search(r"^int main\s*\(", "\n".join(block.text), re.M) else "unit"
        src = [f"/* {block.where} */", f'#line {first} "{block.doc}"'] + block.text
        return kind, "\n".join(src) + "\n"
    includes, funcs, body = split_fragment(block.text)
    src = [f"/* {block.where}: a fragment (tests/docs/README.md) */", FRAGMENT_HEAD]
    src += with_lines(includes, block, first)
    if block.marker[2]:
        src.append(f'#line {block.marker_line + 1} "{block.doc}"')
        src += block.marker[2]
    src += with_lines(funcs, block, first)
    src += ["int doc_fragment(void);", "int doc_fragment(void)", "{"]
    src += with_lines(body, block, first)
    src += ["    return 0;", "}"]
    return "fragment", "\n".join(src) + "\n"


def command_lines(block):
    """kos-tool commands in a block: lines starting with kos-tool (after an
    optional "$ "), joined with indented continuation lines (synopses), and
    not output lines ("kos-tool run: ...")."""
    out, cur = [], None
    for k, t in enumerate(block.text):
        s = re.sub(r"^\$\s+", "", t)
        if s.startswith("kos-tool "):
            word = s.split()[1] if len(s.split()) > 1 else ""
            if word.endswith(":"):
                cur = None
                continue
            cur = [block.line + 1 + k, s]
            out.append(cur)
        elif cur is not None and t.startswith((" ", "\t")) and t.strip().startswith("["):
            cur[1] += " " + t.strip()
        else:
            cur = None
    return [(f"{block.doc}:{n}", c) for n, s in out for c in split_pipeline(s)]


def split_pipeline(s):
    """The kos-tool commands of a shell line: `a | kos-tool b && kos-tool c`
    gives each command that starts with kos-tool."""
    parts = re.split(r"\s*(?:\|\||&&|\||;)\s*", s)
    return [p for p in parts if p.startswith("kos-tool ")]


def main():
    outdir, docs = sys.argv[1], sys.argv[2:]
    root = os.environ.get("KOS_SOURCE_DIR", ".")
    os.makedirs(f"{outdir}/c", exist_ok=True)
    os.makedirs(f"{outdir}/sh", exist_ok=True)
    c_list, sh_list, commands, skipped = [], [], [], []
    fuzz_loop = None
    n = 0
    for path in docs:
        rel = os.path.relpath(path, root)
        blocks, spans = read_doc(path, rel)
        commands += [(w, c) for w, s in spans for c in split_pipeline(s)]
        for b in blocks:
            n += 1
            kind = b.marker[0] if b.marker else None
            if b.lang != "c" and kind in ("fragment", "skip"):
                error(b.where, f"doc-test: {kind} is for ```c blocks")
                continue
            if b.lang != "sh" and kind in ("run", "no-run"):
                error(b.where, f"doc-test: {kind} is for ```sh blocks")
                continue
            if b.lang == "c":
                if kind == "skip":
                    skipped.append(f"{b.where}: not compiled: {b.marker[1]}")
                    continue
                ckind, src = c_unit(b)
                name = f"{n:03d}.c"
                with open(f"{outdir}/c/{name}", "w") as f:
                    f.write(src)
                c_list.append(f"{name} {ckind} {b.where}")
                continue
            commands += command_lines(b)
            if b.lang != "sh":
                continue
            if rel.endswith("fuzzing.md"):
                for t in b.text:
                    m = re.match(r"^for t in ([a-z0-9 ]+); do$", t)
                    if m:
                        fuzz_loop = m.group(1).split()
            runs_tool = any(re.match(r"^\s*kos-tool ", t) for t in b.text)
            if not runs_tool:
                if kind == "run":
                    error(b.where, "doc-test: run marks a block that runs no kos-tool command")
                continue
            if kind == "no-run":
                skipped.append(f"{b.where}: not run: {b.marker[1]}")
                continue
            setup = []
            for t in (b.marker[2] if b.marker else []):
                if not t.strip():
                    continue
                m = re.match(r"^\s*setup:\s*(.*)$", t)
                if not m:
                    error(b.where, f"doc-test: run takes 'setup: COMMAND' lines, not '{t.strip()}'")
                    continue
                setup.append(m.group(1))
            name = f"{n:03d}.sh"
            with open(f"{outdir}/sh/{name}", "w") as f:
                f.write(f"# {b.where}\n")
                for s in setup:
                    f.write(s + "\n")
                f.write(f"# the block, as the doc shows it\n")
                f.write("\n".join(b.text) + "\n")
            sh_list.append(f"{name} {rel} {b.where}")
    with open(f"{outdir}/c/list", "w") as f:
        f.write("".join(x + "\n" for x in c_list))
    with open(f"{outdir}/sh/list", "w") as f:
        f.write("".join(x + "\n" for x in sh_list))
    with open(f"{outdir}/commands", "w") as f:
        f.write("".join(f"{w}\t{c}\n" for w, c in commands))
    with open(f"{outdir}/skipped", "w") as f:
        f.write("".join(x + "\n" for x in skipped))
    with open(f"{outdir}/fuzz_loop", "w") as f:
        f.write(" ".join(fuzz_loop or []) + "\n")
    for e in errors:
        print(f"extract.py: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
