"""The exporter on small synthetic projects: targets, headers, __all__, errors, catalog."""

import ast
import json
import os
from pathlib import Path

import pytest

from tito import exporter
from tito.exporter import ExportError
from tito.project import GENERATED_HEADER, is_generated, resolve_module

from conftest import write_module

SKELETON = '"""Skeleton (not generated)."""\n'


def make_project(root, modules):
    """A minimal project: ``modules/<id>/<name>.py`` from ``{id: source}`` and a skeleton."""
    root = Path(root)
    for folder in ("tinytorch", "tinytorch/core"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "__init__.py").write_text(SKELETON, encoding="utf-8")
    for module_id, source in modules.items():
        write_module(root, module_id, source)
    return root


ALPHA = '''
# %% [markdown]
# # Module 01 — Alpha
# Prose that explains why.

# %%
#| default_exp core.alpha
#| requires 00_base
import numpy as np

# %%
#| export
import math

SCALE = 2
_PRIVATE = 3
LEFT, (RIGHT, _HIDDEN) = 1, (2, 3)
total: int = 0


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return x * SCALE
    ### END SOLUTION


class Box:
    def size(self):
        ### BEGIN SOLUTION
        return math.sqrt(4)
        ### END SOLUTION


def _helper():
    return 0

# %%
#| export core.beta
def other():
    return "beta"

# %%
def test_unit_double():
    assert double(2) == 4


if __name__ == "__main__":
    test_unit_double()
'''


def test_export_writes_header_all_and_code(tmp_path):
    root = make_project(tmp_path, {"01_alpha": ALPHA})
    written = exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert {p.relative_to(root).as_posix() for p in written} == {
        "tinytorch/core/alpha.py", "tinytorch/core/beta.py", "tinytorch/_catalog.json"}

    text = (root / "tinytorch/core/alpha.py").read_text(encoding="utf-8")
    first, second = text.splitlines()[:2]
    assert first.startswith(GENERATED_HEADER) and "modules/01_alpha/alpha.py" in first and "do not edit" in first
    assert "tito module complete 01" in second
    assert "SOLUTION" not in text and "#|" not in text
    assert "import numpy" not in text  # the default_exp cell has no #| export
    assert "def test_unit_double" not in text

    tree = ast.parse(text)
    all_node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "__all__")
    assert ast.literal_eval(all_node.value) == ["SCALE", "LEFT", "RIGHT", "total", "double", "Box"]
    namespace = {}
    exec(compile(text, "alpha.py", "exec"), namespace)
    assert namespace["double"](3) == 6 and namespace["Box"]().size() == 2.0

    beta = (root / "tinytorch/core/beta.py").read_text(encoding="utf-8")
    assert "__all__ = ['other']" in beta and "def other" in beta and "def double" not in beta
    assert is_generated(root / "tinytorch/core/beta.py")


def test_export_marks_each_cell_with_its_source_line(tmp_path):
    root = make_project(tmp_path, {"01_alpha": ALPHA})
    exporter.export_module(root, resolve_module(root, "01_alpha"))
    text = (root / "tinytorch/core/alpha.py").read_text(encoding="utf-8")
    source = (root / "modules/01_alpha/alpha.py").read_text(encoding="utf-8").splitlines()
    marker = next(line for line in text.splitlines() if line.startswith("# %% modules/01_alpha/alpha.py:"))
    line = int(marker.rsplit(":", 1)[1])
    assert source[line - 1] == "# %%" and source[line] == "#| export"


def test_requires_and_title(tmp_path):
    root = make_project(tmp_path, {"01_alpha": ALPHA})
    parsed = exporter.parse_module(root, resolve_module(root, "01_alpha"))
    assert parsed.requires == ["00_base"]
    assert parsed.title == "Alpha"
    assert exporter.module_requires(root, resolve_module(root, "01_alpha")) == ["00_base"]


def test_missing_default_exp_names_file_and_line(tmp_path):
    root = make_project(tmp_path, {"01_alpha": "# %%\nimport math\n\n# %%\n#| export\nX = 1\n"})
    with pytest.raises(ExportError, match=r"modules/01_alpha/alpha\.py:5: no `#\| default_exp`"):
        exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert not (root / "tinytorch/_catalog.json").exists()


def test_duplicate_default_exp_names_both_lines(tmp_path):
    source = "# %%\n#| default_exp core.a\n\n# %%\n#| default_exp core.b\n#| export\nX = 1\n"
    root = make_project(tmp_path, {"01_alpha": source})
    with pytest.raises(ExportError) as err:
        exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert "modules/01_alpha/alpha.py:5" in str(err.value) and "line 2" in str(err.value)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("# %%\n#| default_exp core.a\n#| exprot\nX = 1\n", r"alpha\.py:3: unknown directive `#\| exprot`"),
        ("# %%\n#| default_exp core.a\nX = 1\n#| export\n", r"alpha\.py:4: `#\| export` must be on the first lines"),
        ("# %%\n#| default_exp core.a\n#| export\n#| export\nX = 1\n", r"alpha\.py:4: a second `#\| export`"),
        ("# %%\n#| default_exp core.a\n#| requires tensor\n", r"alpha\.py:3: `#\| requires` takes module ids"),
        ("# %%\n#| default_exp core.a\n#| export core._x\nX = 1\n", r"alpha\.py:1: export target 'core._x'"),
        ("# %%\n#| default_exp core.a\n#| export\n__all__ = ['X']\n", r"alpha\.py:4: do not set __all__"),
    ],
)
def test_directive_mistakes_name_file_and_line(tmp_path, source, expected):
    root = make_project(tmp_path, {"01_alpha": source})
    with pytest.raises(ExportError, match=expected):
        exporter.export_module(root, resolve_module(root, "01_alpha"))


def test_syntax_error_reports_file_and_line_and_writes_nothing(tmp_path):
    source = "# %%\n#| default_exp core.a\n#| export\ndef f(:\n    pass\n"
    root = make_project(tmp_path, {"01_alpha": source})
    with pytest.raises(ExportError, match=r"modules/01_alpha/alpha\.py:4: syntax error") as err:
        exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert "def f(:" in str(err.value)
    assert not (root / "tinytorch/core/a.py").exists()


def test_a_statement_split_by_a_cell_marker_is_refused_though_the_file_parses(tmp_path):
    # The file parses (the marker is inside a string), but the exported cell is not Python on
    # its own: the names read from the whole file's tree must not hide that.
    source = '# %%\n#| default_exp core.a\n\n# %%\n#| export\nX = """\n# %%\nrest"""\nY = 1\n'
    root = make_project(tmp_path, {"01_alpha": source})
    info = resolve_module(root, "01_alpha")
    with pytest.raises(ExportError, match=r"alpha\.py:6: syntax error(.|\n)*valid Python on its own"):
        exporter.export_module(root, info)
    assert exporter.parse_module(root, info, check_syntax=False).cells[0].names == []  # read, not exported


@pytest.mark.parametrize("first_check", [True, False])
def test_names_are_the_same_whichever_kind_of_parse_comes_first(tmp_path, first_check):
    # One cached reading serves both kinds of call; the syntax-checked one reads names from the
    # whole file's tree, the other cell by cell: both must find ALPHA's names, decorators included.
    source = ALPHA + "\n# %%\n#| export\n@staticmethod\n\ndef decorated():\n    pass\n"
    root = make_project(tmp_path, {"01_alpha": source})
    info = resolve_module(root, "01_alpha")
    exporter._PARSED.clear()
    first = exporter.parse_module(root, info, check_syntax=first_check)
    second = exporter.parse_module(root, info, check_syntax=not first_check)
    expected = [["SCALE", "LEFT", "RIGHT", "total", "double", "Box"], ["other"], ["decorated"]]
    assert [cell.names for cell in first.cells] == [cell.names for cell in second.cells] == expected


def test_two_modules_one_target_is_an_error_naming_both(tmp_path):
    one = "# %%\n#| default_exp core.shared\n#| export\nX = 1\n"
    two = "# %%\n#| default_exp core.other\n\n# %%\n#| export core.shared\nY = 2\n"
    root = make_project(tmp_path, {"01_one": one})
    exporter.export_module(root, resolve_module(root, "01_one"))
    write_module(root, "02_two", two)
    before = (root / "tinytorch/core/shared.py").read_text(encoding="utf-8")
    with pytest.raises(ExportError) as err:
        exporter.export_module(root, resolve_module(root, "02_two"))
    assert "modules/02_two/two.py:4" in str(err.value) and "modules/01_one/one.py" in str(err.value)
    assert (root / "tinytorch/core/shared.py").read_text(encoding="utf-8") == before
    with pytest.raises(ExportError, match="01_one"):
        exporter.fresh_export(root)
    with pytest.raises(ExportError, match="02_two"):  # the conflict is reported from either side
        exporter.export_module(root, resolve_module(root, "01_one"))


def test_target_owned_by_another_module_on_disk_is_an_error(tmp_path):
    # Even when the other module's source no longer parses, its file is not taken over.
    one = "# %%\n#| default_exp core.shared\n#| export\nX = 1\n"
    root = make_project(tmp_path, {"01_one": one})
    exporter.export_module(root, resolve_module(root, "01_one"))
    write_module(root, "01_one", "# %%\ndef broken(:\n")
    write_module(root, "02_two", "# %%\n#| default_exp core.shared\n#| export\nY = 2\n")
    with pytest.raises(ExportError, match="already exported by modules/01_one/one.py"):
        exporter.export_module(root, resolve_module(root, "02_two"), warn=lambda message: None)


def test_skeleton_and_hand_written_files_are_never_overwritten(tmp_path):
    root = make_project(tmp_path, {"01_alpha": "# %%\n#| default_exp core.helpers\n#| export\nX = 1\n"})
    hand_written = root / "tinytorch/core/helpers.py"
    hand_written.write_text("# written by hand\n", encoding="utf-8")
    with pytest.raises(ExportError, match="hand-written file"):
        exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert hand_written.read_text(encoding="utf-8") == "# written by hand\n"

    write_module(root, "01_alpha", "# %%\n#| default_exp core\n#| export\nX = 1\n")
    with pytest.raises(ExportError, match="clashes with the package folder"):
        exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert (root / "tinytorch/core/__init__.py").read_text(encoding="utf-8") == SKELETON
    assert not (root / "tinytorch/core.py").exists()


def test_new_target_folders_are_created(tmp_path):
    root = make_project(tmp_path, {"01_alpha": "# %%\n#| default_exp vision.layers.conv\n#| export\nX = 1\n"})
    exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert is_generated(root / "tinytorch/vision/layers/conv.py")
    assert not (root / "tinytorch/vision/__init__.py").exists()


def test_catalog_maps_every_public_name_to_its_module(tmp_path):
    base = "# %%\n#| default_exp core.base\n#| export\ndef one():\n    return 1\n\n_secret = 0\n"
    root = make_project(tmp_path, {"00_base": base, "01_alpha": ALPHA})
    # The catalog lists every module's names, exported or not (it says what to complete).
    exporter.export_module(root, resolve_module(root, "00_base"))
    catalog_path = root / "tinytorch/_catalog.json"
    catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
    assert catalog["one"] == {"module": "00_base", "target": "tinytorch.core.base"}
    assert catalog["double"] == {"module": "01_alpha", "target": "tinytorch.core.alpha"}
    assert catalog["other"] == {"module": "01_alpha", "target": "tinytorch.core.beta"}
    assert "_secret" not in catalog and "_helper" not in catalog and "math" not in catalog
    assert list(catalog) == sorted(catalog)
    first = catalog_path.read_text(encoding="utf-8")
    exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert catalog_path.read_text(encoding="utf-8") == first


def test_changed_target_removes_the_old_file_and_remove_exports(tmp_path):
    base = "# %%\n#| default_exp core.base\n#| export\nA = 1\n"
    root = make_project(tmp_path, {"00_base": base, "01_alpha": ALPHA})
    exporter.export_all(root)
    assert (root / "tinytorch/core/beta.py").exists()

    write_module(root, "01_alpha", ALPHA.replace("#| export core.beta", "#| export core.gamma"))
    exporter.export_module(root, resolve_module(root, "01_alpha"))
    assert not (root / "tinytorch/core/beta.py").exists()
    assert (root / "tinytorch/core/gamma.py").exists()

    removed = exporter.remove_exports(root, resolve_module(root, "01_alpha"))
    assert {p.name for p in removed} == {"alpha.py", "gamma.py"}
    assert (root / "tinytorch/core/base.py").exists()  # another module's export stays
    assert (root / "tinytorch/core/__init__.py").read_text(encoding="utf-8") == SKELETON


def test_fresh_export_equals_export_all(tmp_path):
    base = "# %%\n#| default_exp core.base\n#| export\nA = 1\n"
    root = make_project(tmp_path, {"00_base": base, "01_alpha": ALPHA})
    fresh = exporter.fresh_export(root)
    written = exporter.export_all(root)
    assert {p.relative_to(root).as_posix() for p in written} == set(fresh)
    for rel, text in fresh.items():
        assert (root / rel).read_text(encoding="utf-8") == text
    leftovers = [p for p in root.rglob("*.tmp")]
    assert leftovers == []


def test_future_imports_are_hoisted_above_all(tmp_path):
    source = "# %%\n#| default_exp core.a\n#| export\nfrom __future__ import annotations\n\ndef f(x: 'int') -> int:\n    return x\n"
    root = make_project(tmp_path, {"01_alpha": source})
    exporter.export_module(root, resolve_module(root, "01_alpha"))
    text = (root / "tinytorch/core/a.py").read_text(encoding="utf-8")
    compile(text, "a.py", "exec")
    assert text.index("from __future__") < text.index("__all__")


def test_newer_notebook_warns(tmp_path):
    root = make_project(tmp_path, {"01_alpha": ALPHA})
    info = resolve_module(root, "01_alpha")
    info.notebook.write_text("{}", encoding="utf-8")
    stamp = info.source.stat().st_mtime
    os.utime(info.notebook, (stamp + 60, stamp + 60))
    warnings = []
    exporter.export_module(root, info, warn=warnings.append)
    assert len(warnings) == 1 and "alpha.ipynb is newer" in warnings[0] and "jupytext --sync" in warnings[0]

    os.utime(info.notebook, (stamp - 60, stamp - 60))
    warnings.clear()
    exporter.export_module(root, info, warn=warnings.append)
    assert warnings == []
