#!/usr/bin/env python3
"""Structure figures for issue 18: the longest function per folder of src/ and
how many functions exceed a line limit (80 by default).

A function's length is counted from its `fn` line to the line of its closing
brace. Strings, chars, lifetimes and comments are skipped when braces are
matched, so braces inside format strings or XML literals do not count.

    python3 bench/structure.py [--limit 80] [--list]
"""
import argparse
import os
import re
import sys

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)")


def strip(src):
    """Replace the contents of comments, strings and chars with spaces (newlines kept)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:i + 20]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            close = '"' + m.group(1)
            j = src.find(close, i + len(m.group(0)))
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", src[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    with open(path, encoding="utf-8") as f:
        text = strip(f.read())
    lines = text.split("\n")
    found = []
    for idx, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(idx, len(lines)):
            for ch in lines[j]:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not opened and depth == 0:
                    break
            else:
                if opened and depth == 0:
                    found.append((m.group(1), idx + 1, j - idx + 1))
                    break
                continue
            break
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--list", action="store_true", help="list every function over the limit")
    ap.add_argument("root", nargs="?", default="src")
    args = ap.parse_args()
    per_folder = {}
    over = []
    for dirpath, _, files in os.walk(args.root):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, args.root)
            top = rel.split(os.sep)[0] if os.sep in rel else "(top)"
            for fn, line, length in functions(path):
                best = per_folder.get(top)
                if best is None or length > best[0]:
                    per_folder[top] = (length, f"{path}:{line} {fn}")
                per_folder.setdefault(top + "#over", [])
                if length > args.limit:
                    over.append((length, f"{path}:{line} {fn}"))
                    per_folder[top + "#over"].append(length)
    print(f"{'folder':<12} {'longest':>7} {'over ' + str(args.limit):>8}  function")
    for key in sorted(k for k in per_folder if not k.endswith("#over")):
        length, where = per_folder[key]
        print(f"{key:<12} {length:>7} {len(per_folder[key + '#over']):>8}  {where}")
    print(f"total over {args.limit}: {len(over)}")
    if args.list:
        for length, where in sorted(over, reverse=True):
            print(f"{length:>5}  {where}")


if __name__ == "__main__":
    sys.exit(main())
