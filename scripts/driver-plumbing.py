#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Counts what in each sample driver is framework plumbing rather than driver logic.

    scripts/driver-plumbing.py [REV]    (default: the work tree)

Per file of sample-drivers/ (fault_sites.rs, the injected faults themselves, excepted;
it moved to wrappers/entry_faults.rs at 7c64b08):
  code      lines that are neither blank nor comments
  unsafe    `unsafe` blocks and functions
  offsets   accessor calls whose offset is computed in place (`read64(i * 16 + 8)`),
            what typed registers and descriptor types replace
  stubs     functions whose body is only a constant return, with or without a fault site
  sites     `fault_sites::raise` calls (test plumbing every entry point carried up to
            7c64b08, where the class glue took it over)
  paths     `#[path]` module wiring
"""
import os
import re
import subprocess
import sys

ACCESS = re.compile(r"\.(?:try_)?(?:read|write)(?:8|16|32|64)\(([^;]*)\)")
FN = re.compile(r"^\s*fn (\w+)\(")


def files(rev):
    if rev is None:
        out = subprocess.run(["git", "ls-files", "sample-drivers"], capture_output=True,
                             text=True, check=True).stdout
        return {p: open(p).read() for p in out.split() if p.endswith(".rs")}
    out = subprocess.run(["git", "ls-tree", "--name-only", rev, "sample-drivers/"],
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for p in out.split():
        if p.endswith(".rs"):
            res[p] = subprocess.run(["git", "show", f"{rev}:{p}"], capture_output=True,
                                    text=True, check=True).stdout
    return res


def computed_offset(args):
    # The offset is the first argument of read*, the second of write* (after the
    # value) for kernel::io accessors, the first for DmaCoherent's; count any
    # argument list with arithmetic outside a call.
    depth = 0
    prev = ""
    for c in args:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and c in "+*":
            # A `*` after an operand multiplies; anywhere else it dereferences.
            if c == "+" or prev.isalnum() or (prev != "" and prev in ")]_"):
                return True
        if not c.isspace():
            prev = c
    return False


def stubs(lines):
    n = 0
    for i, l in enumerate(lines):
        if not FN.match(l) or not l.rstrip().endswith("{"):
            continue
        body = []
        for m in lines[i + 1:i + 6]:
            if m.strip() == "}":
                break
            body.append(m.strip())
        else:
            continue
        rest = [b for b in body if not b.startswith("//")]
        if rest and all(
                "fault_sites::raise" in b or re.fullmatch(r"Ok\([^()]*\)", b) for b in rest):
            n += 1
    return n


def count(text):
    lines = text.split("\n")
    code = [l for l in lines if l.strip() and not l.strip().startswith("//")]
    return {
        "code": len(code),
        "unsafe": sum(len(re.findall(r"\bunsafe\s*(?:\{|fn\b)", l)) for l in code),
        "offsets": sum(1 for l in code for m in ACCESS.finditer(l) if computed_offset(m.group(1))),
        "stubs": stubs(lines),
        "sites": sum(l.count("fault_sites::raise") for l in code),
        "paths": sum(l.count("#[path") for l in code),
    }


def main():
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, check=True).stdout.strip()
    os.chdir(top)
    rev = sys.argv[1] if len(sys.argv) > 1 else None
    cols = ["code", "unsafe", "offsets", "stubs", "sites", "paths"]
    print(f"{'file':36s} " + " ".join(f"{c:>7s}" for c in cols))
    total = dict.fromkeys(cols, 0)
    for p, text in sorted(files(rev).items()):
        if p.endswith("fault_sites.rs"):
            continue
        c = count(text)
        for k in cols:
            total[k] += c[k]
        print(f"{p:36s} " + " ".join(f"{c[k]:7d}" for k in cols))
    print(f"{'total':36s} " + " ".join(f"{total[k]:7d}" for k in cols))


if __name__ == "__main__":
    main()
