#!/usr/bin/env python3
"""Counts the atomic read-modify-write instructions a program executed, from a callgrind
profile made with `--dump-instr=yes`.

    python3 benches/count_atomics.py callgrind.out                # the total
    python3 benches/count_atomics.py callgrind.out --by-function  # and where they ran

callgrind counts every executed instruction by address (Ir). This script disassembles each
object the profile names (`objdump -d`), finds the instructions that are atomic
read-modify-writes on x86-64 (a `lock` prefix, or `xchg` with a memory operand, which locks
implicitly), and adds up how many times they ran. Loads and stores with Acquire/Release
ordering are plain `mov`s on x86-64 and cost no more than any load or store, so they are not
counted. `benches/opcount.sh` calls this; `docs/why-fast.md` explains the figures.
"""
import re
import subprocess
import sys

ADDRESS = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")


def atomic_addresses(path):
    """Addresses of the atomic read-modify-write instructions in an object file."""
    try:
        listing = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", path],
            capture_output=True, text=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    found = set()
    for line in listing.splitlines():
        m = ADDRESS.match(line)
        if not m:
            continue
        text = m.group(2).strip()
        if text.startswith("lock ") or (text.startswith("xchg") and "(" in text):
            found.add(int(m.group(1), 16))
    return found


def subposition(field, previous):
    if field == "*":
        return previous
    if field.startswith("+"):
        return previous + int(field[1:], 0)
    if field.startswith("-"):
        return previous - int(field[1:], 0)
    return int(field, 0)


def count(profile):
    names = {}          # "(4)" -> path
    functions = {}      # "(12)" -> name
    function = None
    per_function = {}
    atomics = {}        # path -> set of addresses
    current = None
    address = 0
    skip_next_cost = False
    total = 0
    with open(profile) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ob="):
                spec = line[3:]
                m = re.match(r"^(\(\d+\))\s*(.*)$", spec)
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    current = names.get(m.group(1))
                else:
                    current = spec
                if current and current not in atomics:
                    atomics[current] = atomic_addresses(current)
                continue
            if line.startswith("fn="):
                m = re.match(r"^\((\d+)\)\s*(.*)$", line[3:])
                if m:
                    key = "(" + m.group(1) + ")"
                    if m.group(2):
                        functions[key] = m.group(2)
                    function = functions.get(key, key)
                else:
                    function = line[3:]
                continue
            if line.startswith("cfn="):
                m = re.match(r"^\((\d+)\)\s*(.+)$", line[4:])
                if m:
                    functions["(" + m.group(1) + ")"] = m.group(2)
                continue
            if line.startswith("cob="):
                # Names an object (the callee's) the first time it appears here too.
                m = re.match(r"^\((\d+)\)\s*(.+)$", line[4:])
                if m:
                    names["(" + m.group(1) + ")"] = m.group(2)
                continue
            if line.startswith("calls="):
                skip_next_cost = True
                continue
            if not line or not (line[0] in "+-*" or line[0].isdigit()):
                continue
            fields = line.split()
            address = subposition(fields[0], address)
            if skip_next_cost:
                skip_next_cost = False
                continue
            if current and address in atomics[current] and len(fields) >= 3:
                total += int(fields[-1])
                per_function[function] = per_function.get(function, 0) + int(fields[-1])
    return total, per_function


if __name__ == "__main__":
    total, per_function = count(sys.argv[1])
    print(total)
    if "--by-function" in sys.argv[2:]:
        for name, n in sorted(per_function.items(), key=lambda kv: -kv[1]):
            print(f"{n:>10}  {name}")
