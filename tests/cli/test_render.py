from __future__ import annotations

import pytest

from xops_provider.cli.render import format_table, terminal_safe


class TestTerminalSafe:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("Invoice 42", "Invoice 42", id="plain"),
            pytest.param("Счёт 請求書 فاتورة", "Счёт 請求書 فاتورة", id="non-latin-kept"),
            pytest.param("\x1b[2J\x1b[Hpwned", "\\u001b[2J\\u001b[Hpwned", id="ansi-escape"),
            pytest.param("evil\u202egnp.exe", "evil\\u202egnp.exe", id="rtl-override"),
            pytest.param("pay\u200bpal.com", "pay\\u200bpal.com", id="zero-width-space"),
            pytest.param("line\rover", "line\\u000dover", id="carriage-return"),
            pytest.param(None, "", id="none"),
        ],
    )
    def test_escapes_what_can_deceive_a_terminal(self, text, expected):
        assert terminal_safe(text) == expected

    def test_cuts_long_text_with_a_marker(self):
        assert terminal_safe("x" * 20, max_length=5) == "xxxx…"


class TestFormatTable:
    def test_aligns_columns_and_escapes_cells(self):
        table = format_table(("ID", "TITLE"), [("1", "a\x1bb"), ("22", "ok")])
        lines = table.splitlines()
        assert lines[0] == "ID  TITLE"
        assert lines[2] == "1   a\\u001bb"
        assert "\x1b" not in table
