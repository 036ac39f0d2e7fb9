"""tito's output is UTF-8 whatever the terminal, and its symbols degrade to readable text."""

import os
import subprocess
import sys


def test_text_fallbacks_survive_rich_markup(project):
    env = dict(os.environ, TITO_ASCII="1", COLUMNS="120")
    result = subprocess.run([sys.executable, "-m", "tito", "milestone", "list"], cwd=project, env=env,
                            capture_output=True, text=True, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert "(locked)" in result.stdout, result.stdout
    assert "🔒" not in result.stdout and "👉" not in result.stdout
    assert "-> Next:" in result.stdout


def test_utf8_output_under_an_ascii_locale(project):
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C", LANG="C", COLUMNS="120")
    result = subprocess.run([sys.executable, "-m", "tito", "milestone", "list"], cwd=project, env=env,
                            capture_output=True)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    text = result.stdout.decode("utf-8")  # raises if tito wrote anything but UTF-8
    assert "1957" in text and "Next:" in text
