"""`tito demo` — the README's first command — runs the whole course and leaves progress alone."""

from tito.tracker import load_tracker

from conftest import REPO


def test_demo_completes_every_module_and_passes_every_milestone(exported_project, tito, _isolated_home):
    result = tito("demo", cwd=exported_project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    tracker = load_tracker(REPO)
    for milestone_id in tracker.MILESTONE_ORDER:
        assert f"tito milestone run {milestone_id}" in output
    assert output.count("MILESTONE UNLOCKED") == len(tracker.MILESTONE_ORDER)
    assert output.count("MILESTONE COMPLETED") == len(tracker.MILESTONE_ORDER)
    assert not (_isolated_home / "progress.json").exists(), "the user's milestone progress is untouched"
    assert not (exported_project / "progress.json").exists(), "the project's module progress is untouched"
