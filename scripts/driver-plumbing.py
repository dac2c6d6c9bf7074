#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Counts what in each sample driver is framework plumbing rather than driver logic.

    scripts/driver-plumbing.py [REV]    (default: the work tree; --help for more)

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
import argparse
import os
import re
import subprocess
import sys

ACCESS = re.compile(r"\.(?:try_)?(?:read|write)(?:8|16|32|64)\(([^;]*)\)")
FN = re.compile(r"^\s*fn (\w+)\(")


class Failure(Exception):
    """A problem to report in one line, without a traceback."""


def git(*args):
    """The output of `git ARGS`; `Failure` with git's own message if it fails."""
    try:
        r = subprocess.run(["git", *args], capture_output=True, text=True)
    except OSError as e:
        raise Failure(f"cannot run git: {e}") from None
    if r.returncode != 0:
        msg = r.stderr.strip().splitlines()
        raise Failure(f"git {args[0]} failed: {msg[-1] if msg else f'exit {r.returncode}'}")
    return r.stdout


def tree_of(rev):
    """The tree `rev` names (a commit, tag or tree), or `Failure` if it names none."""
    r = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "--end-of-options",
                        f"{rev}^{{tree}}"], capture_output=True, text=True)
    if r.returncode != 0:
        raise Failure(f"no such revision in this repository: {rev!r} "
                      "(give a commit, tag or branch; see `git log --oneline`)")
    return r.stdout.strip()


def files(rev):
    """The `.rs` files of sample-drivers/, path to text: tracked files as they are in the
    work tree if `rev` is None, else as they are in revision `rev`."""
    if rev is None:
        res = {}
        for p in git("ls-files", "--", "sample-drivers").split():
            # A tracked file deleted in the work tree is not in the work tree.
            if p.endswith(".rs") and os.path.exists(p):
                with open(p) as f:
                    res[p] = f.read()
        return res
    tree = tree_of(rev)
    res = {}
    for p in git("ls-tree", "--name-only", tree, "sample-drivers/").split():
        if p.endswith(".rs"):
            res[p] = git("show", f"{tree}:{p}")
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


def parse_args():
    # What each column counts: the module docstring from there on.
    body = __doc__[__doc__.index("Per file of"):].rstrip()
    ap = argparse.ArgumentParser(
        prog="scripts/driver-plumbing.py",
        description="Counts, per file of sample-drivers/, what is framework plumbing\n"
        "rather than driver logic, and prints one table: a line per file, then the total.",
        epilog=body + """

examples:
  scripts/driver-plumbing.py            the work tree (tracked files as they are now)
  scripts/driver-plumbing.py d5d9806    the files as they were at commit d5d9806
  scripts/driver-plumbing.py HEAD       the last commit

Runs from any folder of the repository. Exit status 0; 1, with one line on standard
error, when the revision does not exist or git fails; 2 for a usage error.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("rev", nargs="?", metavar="REV", default=None,
                    help="a git revision (commit, tag, branch) to count at; "
                    "default: the work tree")
    return ap.parse_args()


def main():
    args = parse_args()
    try:
        top = git("rev-parse", "--show-toplevel").strip()
        os.chdir(top)
        found = files(args.rev)
    except Failure as e:
        print(f"driver-plumbing.py: {e}", file=sys.stderr)
        return 1
    cols = ["code", "unsafe", "offsets", "stubs", "sites", "paths"]
    print(f"{'file':36s} " + " ".join(f"{c:>7s}" for c in cols))
    total = dict.fromkeys(cols, 0)
    for p, text in sorted(found.items()):
        if p.endswith("fault_sites.rs"):
            continue
        c = count(text)
        for k in cols:
            total[k] += c[k]
        print(f"{p:36s} " + " ".join(f"{c[k]:7d}" for k in cols))
    print(f"{'total':36s} " + " ".join(f"{total[k]:7d}" for k in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
