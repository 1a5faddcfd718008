"""Fail if code MSVC would compile uses GCC/Clang extensions MSVC lacks.

Reads `clang -E` output for an MSVC target (stdin): only the lines that come from cmlp's own
sources (by the preprocessor's line markers), after the MSVC branches of every #if were
taken, must have no __attribute__, __builtin_*, vector_size or statement expressions.
Clang's syntax check alone accepts all of those even in MSVC mode.
Usage: clang -E ... | python msvc_lint.py UNIT
"""
import re
import sys

# __builtin_ia32_*: what Clang's own headers turn some intrinsics into (MSVC has the
# intrinsics themselves), so not counted.
GCC_ONLY = re.compile(r"__attribute__|__builtin_(?!ia32_)\w+|vector_size|\(\{|__typeof__|__asm__")


def main(unit):
    current, problems, own_lines = "", [], 0
    for line in sys.stdin:
        marker = re.match(r'# \d+ "([^"]+)"', line)
        if marker:
            current = marker.group(1)
            continue
        if "cmlp/_src/" not in current.replace("\\", "/"):
            continue
        own_lines += line.strip() != ""
        found = GCC_ONLY.search(line)
        if found:
            problems.append(f"{current}: {found.group(0)} in: {line.strip()[:120]}")
    if own_lines == 0:
        sys.exit(f"{unit}: no line of cmlp's own sources in the preprocessed output")
    if problems:
        sys.exit(f"{unit}: GCC-only constructs where MSVC compiles:\n" + "\n".join(problems[:20]))
    print(f"{unit}: {own_lines} preprocessed lines of cmlp's code, no GCC-only construct")


if __name__ == "__main__":
    main(sys.argv[1])
