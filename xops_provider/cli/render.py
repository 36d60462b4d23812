"""Printing attacker-controlled text on a terminal.

Subjects, sender names and URLs come from attackers. On a terminal, control characters can move the
cursor or rewrite earlier lines, and bidirectional overrides or zero-width characters can make
``evil.com`` read as something else. They are shown as visible ``\\uXXXX`` escapes instead: the
analyst sees that the trick is there, and nothing is silently removed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

_INVISIBLE_FORMATTING = frozenset(
    [0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070)]
)


def _needs_escape(char: str) -> bool:
    code = ord(char)
    if code in _INVISIBLE_FORMATTING:
        return True
    # Cc: C0/C1 controls (ESC, CR, BEL...); Cf: other format characters; Zl/Zp: line separators.
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def terminal_safe(value: object, *, max_length: int | None = None) -> str:
    """Text fit for one terminal cell or line: controls, bidi and zero-width characters escaped.

    :param value: any value; ``None`` prints as an empty string.
    :param max_length: cut longer text, marking the cut with an ellipsis.
    """
    if value is None:
        return ""
    text = "".join(f"\\u{ord(c):04x}" if _needs_escape(c) else c for c in str(value))
    if max_length is not None and len(text) > max_length:
        text = text[: max(0, max_length - 1)] + "…"
    return text


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 60) -> str:
    """A plain-text table with every cell made terminal-safe.

    :param headers: the column titles.
    :param rows: the cells, one sequence per row.
    :param max_width: the widest a column may be; longer cells are cut.
    """
    cells = [[terminal_safe(c, max_length=max_width) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
