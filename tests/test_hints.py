"""Hints are nudges, never solutions.

A hint is the docstring of a module's ``test_unit_*`` function (``tito module hint NN`` and
``tito module watch NN`` show it for the first failing test). Every test has one, and no hint
— nor any prose of a module or of ``modules/README.md`` — quotes a line that exists only
inside a reference solution block.

A hint or a prose line that repeats a solution line would whitelist it: ``tito release``'s
leak scan only looks for lines that appear nowhere *outside* a solution block. So the
solution-only lines are computed here on the course without its teaching text (the prose
cells, the hints and ``modules/README.md``), with the release's own function
(``tito.student_copy.solution_only_lines``) and its normalization.
"""

import ast
import re
import shutil

import pytest

from tito import manifest, student_copy
from tito.commands import module_watch
from tito.project import discover_modules
from tito.solutions import strip_solutions

from conftest import REPO

MODULES = discover_modules(REPO)
IDS = [m.id for m in MODULES]
MAX_HINT = 600  # characters: a nudge of one to three sentences, not an essay
_normalized = student_copy._normalized  # the leak scan's own normalization


# -- the course without its teaching text ------------------------------------------------------
def _blanked(text, prose=True, hints=True):
    """``text`` with its prose cells and/or the docstrings of its ``test_unit_*`` functions blanked."""
    lines = text.splitlines()
    drop, markdown = set(), False
    for number, line in enumerate(lines):
        if line.startswith("# %%"):
            markdown = line.startswith("# %% [markdown]")
        if markdown and prose:
            drop.add(number)
    for node in ast.parse(text).body if hints else ():
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_unit_") and ast.get_docstring(node):
            docstring = node.body[0]
            drop.update(range(docstring.lineno - 1, docstring.end_lineno))
    return "\n".join("" if i in drop else line for i, line in enumerate(lines)) + "\n"


def solution_only(texts, scratch, teaching_text=False):
    """The solution-only lines (normalized) of a course whose module sources are ``texts``
    ({module id: text}), judged without the teaching text: everything else the release copies
    verbatim still counts as outside (it ships to students anyway). ``teaching_text=True``
    keeps it, as the release's own scan does."""
    for folder, pattern in student_copy.VERBATIM:
        if (folder, pattern) == ("modules", "README.md") and not teaching_text:
            continue
        for path in (REPO / folder).glob(pattern):
            if path.is_file() and path.suffix != ".npz" and "__pycache__" not in path.parts:
                target = scratch / path.relative_to(REPO)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    for module in MODULES:
        target = scratch / module.source.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = texts[module.id]
        target.write_text(text if teaching_text else _blanked(text), encoding="utf-8")
    return student_copy.solution_only_lines(scratch, discover_modules(scratch))


class Judge:
    """What a hint may not quote, and what it may: ``secret``, the solution-only lines; the
    ``fragments`` that quote one (the line, or its right-hand side: ``return X`` and
    ``a, b = X`` give ``X``); ``visible``, everything a student copy shows besides the hints
    (prose, provided code, tests, ``modules/README.md``), which a hint may repeat."""

    def __init__(self, texts, scratch):
        self.secret = solution_only(texts, scratch)
        self.fragments = set(self.secret)
        for line in self.secret:
            if line.startswith(("return ", "yield ")):
                self.fragments.add(line.split(" ", 1)[1])
            match = re.match(r"^[\w\s,.\[\]()]+?\s*[-+*/@]?=\s*(?!=)(.+)$", line)
            if match:
                self.fragments.add(match.group(1))
        shown = [strip_solutions(_blanked(text, prose=False), module_id) for module_id, text in texts.items()]
        shown.append((REPO / "modules" / "README.md").read_text(encoding="utf-8"))
        self.visible = "\n".join(_normalized(line) for text in shown for line in text.splitlines())

    def quotes_solution(self, span):
        """A backticked ``span`` quotes a solution when it is a fragment of one, or 16+ characters
        of code inside one — unless the student copy shows that text anyway."""
        code = _normalized(span)
        if not code or code in self.visible:
            return False
        if code in self.fragments:
            return True
        return _substantial(code) and any(code in line for line in self.secret)


def _substantial(code):
    return len(code) >= 16 and any(c in code for c in "(=+-*/@[")


def hint_leaks(text, judge):
    """``[(test name, fragment)]`` for every hint line that is a solution line, every backticked
    expression that quotes a solution, and every solution line of substance (16+ characters of
    code) inside a hint's text."""
    leaks = []
    for name, hint in module_watch.test_hints(text).items():
        leaks += [(name, line.strip()) for line in hint.splitlines() if _normalized(line) in judge.secret]
        leaks += [(name, span) for span in re.findall(r"`([^`]+)`", hint) if judge.quotes_solution(span)]
        flat = _normalized(" ".join(hint.split()))
        leaks += [(name, line) for line in sorted(judge.secret)
                  if _substantial(line) and line in flat and (name, line) not in leaks]
    return leaks


def _without_trailing_comment(line):
    return re.sub(r"\s+#\s.*$", "", line)


def prose_leaks(lines, secret):
    """``[(line number, text)]`` of prose lines that are a solution line (a trailing ``# comment``
    does not disguise one)."""
    return [(number, line.strip()) for number, line in enumerate(lines, start=1)
            if _normalized(line) in secret or _normalized(_without_trailing_comment(_normalized(line))) in secret]


def markdown_lines(text):
    """The lines of ``text``'s prose cells (``# %% [markdown]``), with their line numbers kept
    (other lines are blank)."""
    markdown, lines = False, []
    for line in text.splitlines():
        if line.startswith("# %%"):
            markdown = line.startswith("# %% [markdown]")
        lines.append(line if markdown else "")
    return lines


@pytest.fixture(scope="module")
def texts():
    return {m.id: m.source.read_text(encoding="utf-8") for m in MODULES}


@pytest.fixture(scope="module")
def judge(texts, tmp_path_factory):
    judge = Judge(texts, tmp_path_factory.mktemp("course-without-teaching-text"))
    assert len(judge.secret) > 500, "the reference solutions were found"
    return judge


# -- every test has a hint ---------------------------------------------------------------------
@pytest.mark.parametrize("module_id", IDS)
def test_every_unit_test_has_a_hint(module_id, texts):
    text = texts[module_id]
    names = manifest.test_function_names(text)
    hints = module_watch.test_hints(text)
    assert names, f"{module_id} defines no test_unit_* functions"
    assert [n for n in names if not hints.get(n)] == [], f"{module_id}: tests without a hint (a docstring)"
    too_long = {n: len(h) for n, h in hints.items() if len(h) > MAX_HINT}
    assert too_long == {}, f"{module_id}: hints longer than {MAX_HINT} characters"


# -- no hint, and no prose, quotes a solution --------------------------------------------------
@pytest.mark.parametrize("module_id", IDS)
def test_no_hint_quotes_a_solution(module_id, texts, judge):
    assert hint_leaks(texts[module_id], judge) == []


@pytest.mark.parametrize("module_id", IDS)
def test_no_prose_cell_quotes_a_solution(module_id, texts, judge):
    assert prose_leaks(markdown_lines(texts[module_id]), judge.secret) == []


def test_the_modules_readme_quotes_no_solution(judge):
    lines = (REPO / "modules" / "README.md").read_text(encoding="utf-8").splitlines()
    assert prose_leaks(lines, judge.secret) == []


def test_the_checks_catch_a_solution_line_pasted_into_a_hint_or_the_prose(texts, tmp_path):
    """A solution line copied into a hint or a prose cell is found, here and by the release's
    own scan (which counts only code, not prose, comments or docstrings, as "outside" a
    solution, and ignores a trailing comment)."""
    pasted = texts["02_autograd"].replace(
        "def test_unit_arithmetic_gradients():\n",
        'def test_unit_arithmetic_gradients():\n    """For MulOp: `grad * a if ctx.needs_input_grad[1] else None`.\n\n'
        '    grad_b = -grad_a * a / b if ctx.needs_input_grad[1] else None\n'
        '    return grad / a\n'
        '    Then grad = grad.sum(axis=stretched, keepdims=True) does the rest.\n    """\n', 1,
    ).replace("# ## The rules of the graph\n", "# ## The rules of the graph\n#         grad_a = grad / b  # the trick\n", 1)
    course = {**texts, "02_autograd": pasted}
    judge = Judge(course, tmp_path / "judged")
    found = hint_leaks(pasted, judge)
    assert ("test_unit_arithmetic_gradients", "grad_b = -grad_a * a / b if ctx.needs_input_grad[1] else None") in found
    assert ("test_unit_arithmetic_gradients", "return grad / a") in found, "a short solution line on a line of its own"
    assert ("test_unit_arithmetic_gradients", "grad * a if ctx.needs_input_grad[1] else None") in found
    assert ("test_unit_arithmetic_gradients", "grad = grad.sum(axis=stretched, keepdims=True)") in found
    assert "#         grad_a = grad / b  # the trick" in [line for _, line in prose_leaks(markdown_lines(pasted), judge.secret)]
    as_released = solution_only(course, tmp_path / "as-released", teaching_text=True)
    assert _normalized("grad_b = -grad_a * a / b if ctx.needs_input_grad[1] else None") in as_released, "a hint cannot whitelist a solution line"
    assert _normalized("#         grad_a = grad / b  # the trick") in as_released, "nor can a trailing comment disguise one"


# -- the student copy keeps every hint, and the release's leak scan passes ----------------------
def test_a_student_copy_keeps_every_hint_and_leaks_nothing(released, texts):
    for module in MODULES:
        student_text = (released / module.source.relative_to(REPO)).read_text(encoding="utf-8")
        assert "raise NotImplementedError" in student_text, module.id
        assert module_watch.test_hints(student_text) == module_watch.test_hints(texts[module.id]), module.id
    assert student_copy.leak_scan(REPO, released, MODULES) == []
