"""The committed ``tinytorch/`` is exactly a fresh export of ``modules/`` (nbdev's rule).

If this fails after editing a module, re-export and commit the result:
``python -m tito.exporter`` (or `tito module complete NN` for the module you changed).
"""

from tito import exporter
from tito.project import discover_modules, generated_files

from conftest import REPO

FIX = "Run `python -m tito.exporter` and commit tinytorch/."


def test_repository_has_modules():
    assert discover_modules(REPO), "no modules/NN_name/name.py found: nothing to check the package against"


def test_every_exported_file_is_current():
    fresh = exporter.fresh_export(REPO)
    missing = [rel for rel in fresh if not (REPO / rel).is_file()]
    stale = [rel for rel in fresh if (REPO / rel).is_file() and (REPO / rel).read_text(encoding="utf-8") != fresh[rel]]
    assert not missing, f"not exported: {missing}. {FIX}"
    assert not stale, f"out of date with modules/: {stale}. {FIX}"


def test_no_generated_file_without_a_module():
    fresh = exporter.fresh_export(REPO)
    orphans = [p.relative_to(REPO).as_posix() for p in generated_files(REPO)]
    orphans = [rel for rel in orphans if rel not in fresh]
    assert not orphans, f"generated files that no module exports any more: {orphans}. {FIX}"


def test_catalog_is_part_of_the_check():
    fresh = exporter.fresh_export(REPO)
    assert f"{exporter.PACKAGE}/{exporter.CATALOG}" in fresh
    assert any(path.endswith(".py") for path in fresh), "modules export nothing"
