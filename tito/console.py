"""One rich Console for all of tito's output: UTF-8 always, emoji only where they print."""

import os
import sys

from rich.console import Console

# Parentheses, not brackets: the fallbacks go into rich markup, where "[ok]" is a tag.
_FALLBACKS = {"🔓": "(unlocked)", "🔒": "(locked)", "🏆": "(completed)", "✅": "(ok)",
              "❌": "(failed)", "⚠️": "(!)", "👉": "->", "🎉": "!", "⏱": "time"}


def _utf8_stream(stream):
    """Write UTF-8 where the stream allows it (Windows consoles, pipes with a C locale)."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(encoding="utf-8", errors="replace")
        except (ValueError, OSError):
            pass
    return stream


def can_encode(text, stream=None):
    encoding = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def icon(symbol):
    """The emoji, or its text fallback when the console cannot show it (TITO_ASCII=1 forces text)."""
    if os.environ.get("TITO_ASCII") == "1" or not can_encode(symbol):
        return _FALLBACKS.get(symbol, "")
    return symbol


_utf8_stream(sys.stdout)
_utf8_stream(sys.stderr)
console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


def next_step(command, why=""):
    """Every command ends by telling the user the one next thing to do."""
    suffix = f"  [dim]{why}[/dim]" if why else ""
    console.print(f"\n{icon('👉')} Next: [bold cyan]{command}[/bold cyan]{suffix}")
