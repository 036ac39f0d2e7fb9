"""Student forms: reference solutions out, `raise NotImplementedError` in.

A solution block is fenced by ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines. In the
student form the fence stays (it shows where the student writes, and lets
``tito module reset`` find the block again) and everything inside it becomes one
``raise NotImplementedError("...")`` at the fence's indentation, naming the function
or method to implement.
"""

import re

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)|^(\s*)class\s+(\w+)")


class SolutionMarkerError(ValueError):
    """Unbalanced or nested markers; the message names the line."""


def solution_blocks(text):
    """``(begin_index, end_index)`` line pairs of every solution block (0-based, inclusive)."""
    blocks, begin = [], None
    for number, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise SolutionMarkerError(f"line {number + 1}: {BEGIN} inside another block (opened on line {begin + 1})")
            begin = number
        elif stripped == END:
            if begin is None:
                raise SolutionMarkerError(f"line {number + 1}: {END} without a {BEGIN}")
            blocks.append((begin, number))
            begin = None
    if begin is not None:
        raise SolutionMarkerError(f"line {begin + 1}: {BEGIN} is never closed")
    return blocks


def solution_lines(text):
    """The non-blank lines inside solution blocks (what a student copy must not contain)."""
    lines = text.splitlines()
    return [lines[i].strip() for b, e in solution_blocks(text) for i in range(b + 1, e) if lines[i].strip()]


def _enclosing_name(lines, index):
    """``Class.method`` or ``function`` that contains line ``index``."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    names = []
    for line in reversed(lines[:index]):
        match = _DEF.match(line)
        if not match:
            continue
        own = len(match.group(1) if match.group(1) is not None else match.group(3))
        if own < indent:
            names.append(match.group(2) or match.group(4))
            indent = own
            if own == 0:
                break
    return ".".join(reversed(names)) or "this block"


def strip_solutions(text, module_id):
    """The student form of a module source."""
    lines = text.splitlines()
    out, previous = [], 0
    for begin, end in solution_blocks(text):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        name = _enclosing_name(lines, begin)
        out.extend(lines[previous : begin + 1])
        out.append(f'{indent}raise NotImplementedError("{module_id}: implement {name} (see the text above)")')
        out.append(lines[end])
        previous = end + 1
    out.extend(lines[previous:])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
