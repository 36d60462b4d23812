"""The KQL subset's parser and evaluator, on a small table held here."""

from __future__ import annotations

import pytest

from tests.simulator.conftest import kql_string
from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator.graph import kql
from xops_provider.simulator.telemetry.tables import TABLES, HuntingTable, coerce_row

T0 = GraphTime.parse("2026-03-02T09:00:00Z")
HOSTILE = 'x" | project ReportId | where "1" == "1'


def _row(minutes: int, subject: str, recipient: str, urls: int = 1) -> dict:
    return coerce_row(
        "EmailEvents",
        {
            "Timestamp": T0.shift(seconds=60 * minutes).isoformat(),
            "NetworkMessageId": f"id-{minutes}",
            "Subject": subject,
            "RecipientEmailAddress": recipient,
            "UrlCount": urls,
        },
        default_time=T0.ticks,
    )


@pytest.fixture(scope="module")
def table() -> HuntingTable:
    emails = HuntingTable("EmailEvents")
    emails.add(
        [
            _row(30, "Quarterly report", "Bob@Contoso.com", urls=3),
            _row(0, "Invoice", "alice@contoso.com"),
            _row(10, HOSTILE, "carol@contoso.com", urls=0),
            _row(20, "invoice", "dave@contoso.com", urls=2),
        ]
    )
    return emails


def _ids(table: HuntingTable, query: str) -> list[str]:
    parsed = kql.parse(query, TABLES)
    return [row["NetworkMessageId"] for row in kql.run(parsed, table.scan)]


class TestAccepted:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            pytest.param("EmailEvents", ["id-0", "id-10", "id-20", "id-30"], id="table-in-time-order"),
            pytest.param('EmailEvents | where Subject == "Invoice"', ["id-0"], id="equals-case-sensitive"),
            pytest.param('EmailEvents | where Subject =~ "INVOICE"', ["id-0", "id-20"], id="equals-any-case"),
            pytest.param(
                'EmailEvents | where Subject != "Invoice" | take 1', ["id-10"], id="not-equals-take"
            ),
            pytest.param(
                'EmailEvents | where RecipientEmailAddress in ("bob@contoso.com", "alice@contoso.com")',
                ["id-0"],
                id="in",
            ),
            pytest.param(
                'EmailEvents | where RecipientEmailAddress in~ ("bob@contoso.com", "ALICE@contoso.com")',
                ["id-0", "id-30"],
                id="in-any-case",
            ),
            pytest.param(
                "EmailEvents | where UrlCount between (1 .. 2)", ["id-0", "id-20"], id="between-int"
            ),
            pytest.param(
                "EmailEvents | where Timestamp >= datetime(2026-03-02T09:10:00Z) "
                "and Timestamp < datetime(2026-03-02T09:30:00.0000000Z)",
                ["id-10", "id-20"],
                id="datetime-window",
            ),
            pytest.param(
                'EmailEvents\n| where (UrlCount > 2 or UrlCount == 0)\n  and Subject != "x"\n| limit 5',
                ["id-10", "id-30"],
                id="or-and-parentheses-newlines",
            ),
            pytest.param(
                "EmailEvents | order by UrlCount", ["id-30", "id-20", "id-0", "id-10"], id="desc-default"
            ),
            pytest.param("EmailEvents | order by Timestamp asc | take 2", ["id-0", "id-10"], id="order-asc"),
            pytest.param(
                "EmailEvents | where Timestamp between "
                "(datetime(2026-03-02) .. datetime(2026-03-02T09:05:00Z))",
                ["id-0"],
                id="date-only",
            ),
        ],
    )
    def test_rows(self, table, query, expected):
        assert _ids(table, query) == expected

    def test_project_sets_the_columns_and_their_order(self, table):
        parsed = kql.parse("EmailEvents | where UrlCount == 1 | project Subject, NetworkMessageId", TABLES)
        assert parsed.columns == {"Subject": "string", "NetworkMessageId": "string"}
        assert [row["NetworkMessageId"] for row in kql.run(parsed, table.scan)] == ["id-0"]


class TestHostileLiterals:
    def test_a_pipe_inside_a_string_stays_in_the_string(self, table):
        parsed = kql.parse(f"EmailEvents | where Subject == {kql_string(HOSTILE)}", TABLES)
        assert [op.kind for op in parsed.operators] == ["where"]
        assert list(parsed.columns) == list(TABLES["EmailEvents"])
        assert [row["NetworkMessageId"] for row in kql.run(parsed, table.scan)] == ["id-10"]

    def test_an_unescaped_quote_cannot_close_the_string_early(self, table):
        query = 'EmailEvents | where Subject == "x\\" | take 0 | where Subject == \\"x"'
        parsed = kql.parse(query, TABLES)
        assert [op.kind for op in parsed.operators] == ["where"]
        assert _ids(table, query) == []

    def test_backslashes_are_escaped(self, table):
        two_backslashes = "a" + "\\" * 2 + "b"
        parsed = kql.parse("EmailEvents | where Subject == " + kql_string(two_backslashes), TABLES)
        condition = parsed.operators[0].argument
        assert condition.test({"Subject": two_backslashes})
        assert not condition.test({"Subject": "a\\b"})


class TestRefused:
    @pytest.mark.parametrize(
        ("query", "match"),
        [
            pytest.param("", "empty", id="empty"),
            pytest.param("Emails", "named 'Emails'", id="unknown-table"),
            pytest.param("emailevents", "named 'emailevents'", id="table-case"),
            pytest.param('EmailEvents | where subject == "x"', "named 'subject'", id="column-case"),
            pytest.param("EmailEvents | summarize count() by Subject", "'summarize'", id="summarize"),
            pytest.param('EmailEvents | where Subject has "x"', "'has'", id="has"),
            pytest.param('EmailEvents | where Subject contains "x"', "'contains'", id="contains"),
            pytest.param('EmailEvents | where Subject !~ "x"', "parsed at '!~", id="not-tilde"),
            pytest.param('EmailEvents | Where Subject == "x"', "'Where'", id="keyword-case"),
            pytest.param("EmailEvents | sort by Timestamp", "'sort'", id="sort"),
            pytest.param("EmailEvents | where Subject == 'x'", "parsed at ''x''", id="single-quotes"),
            pytest.param('EmailEvents | where Subject == "x\\n"', "escape", id="other-escape"),
            pytest.param('EmailEvents | where Subject == "x', "parsed at '\"x'", id="unterminated"),
            pytest.param('EmailEvents | where Subject == "x";', "parsed at ';'", id="semicolon"),
            pytest.param('EmailEvents | where Subject == "x" | ', "end of query", id="trailing-pipe"),
            pytest.param(
                'EmailEvents | where Timestamp > "2026-03-02"', "types datetime and string", id="type"
            ),
            pytest.param("EmailEvents | where UrlCount > 1.5", "parsed at '1.5'", id="decimal"),
            pytest.param('EmailEvents | where Subject > "a"', "cannot be applied", id="string-order"),
            pytest.param("EmailEvents | where Timestamp > ago(1d)", "could not be parsed", id="function"),
            pytest.param(
                "EmailEvents | where Timestamp > datetime(now)", "Invalid datetime", id="datetime-word"
            ),
            pytest.param("EmailEvents | take -1", "parsed at '-1'", id="negative-take"),
            pytest.param("EmailEvents | project Subject, Subject", "more than once", id="project-twice"),
            pytest.param(
                "EmailEvents | project Subject | where UrlCount == 1", "named 'UrlCount'", id="projected-away"
            ),
            pytest.param(
                "EmailEvents | where " + "(" * 100 + "UrlCount == 1" + ")" * 100, "nested", id="deep-nesting"
            ),
            pytest.param("EmailEvents | where UrlCount == 1 and", "end of query", id="dangling-and"),
            pytest.param("EmailEvents\n| where Subject == 1", r"types string and int", id="int-for-string"),
        ],
    )
    def test_refused(self, query, match):
        with pytest.raises(kql.KqlError, match=match):
            kql.parse(query, TABLES)

    def test_position_is_reported_by_line_and_column(self):
        with pytest.raises(kql.KqlError, match=r"line \[2, 9\]"):
            kql.parse("EmailEvents\n| where ;", TABLES)

    def test_too_long(self):
        with pytest.raises(kql.KqlError, match="longer than"):
            kql.parse("EmailEvents" + " " * kql.MAX_QUERY_LENGTH, TABLES)


class TestTimeWindow:
    @pytest.mark.parametrize(
        ("predicate", "lower", "upper"),
        [
            pytest.param("Timestamp >= datetime(2026-03-02T09:10:00Z)", 10, None, id="lower"),
            pytest.param("Timestamp < datetime(2026-03-02T09:20:00Z) and UrlCount > 0", None, 20, id="upper"),
            pytest.param(
                "Timestamp between (datetime(2026-03-02T09:10:00Z) .. datetime(2026-03-02T09:20:00Z))",
                10,
                20,
                id="between",
            ),
            pytest.param(
                "(Timestamp > datetime(2026-03-02T09:10:00Z) and UrlCount == 1) or UrlCount == 2",
                None,
                None,
                id="or-without-bound",
            ),
            pytest.param(
                "Timestamp == datetime(2026-03-02T09:10:00Z) or Timestamp == datetime(2026-03-02T09:20:00Z)",
                10,
                20,
                id="or-union",
            ),
        ],
    )
    def test_the_first_where_narrows_the_scan(self, predicate, lower, upper):
        condition = kql.parse(f"EmailEvents | where {predicate}", TABLES).operators[0].argument

        def ticks(minutes):
            return None if minutes is None else T0.shift(seconds=60 * minutes).ticks

        assert (condition.lower, condition.upper) == (ticks(lower), ticks(upper))

    def test_rows_outside_the_window_are_never_read(self, table):
        read = []

        def scan(lower, upper):
            for row in table.scan(lower, upper):
                read.append(row["NetworkMessageId"])
                yield row

        parsed = kql.parse("EmailEvents | where Timestamp >= datetime(2026-03-02T09:20:00Z)", TABLES)
        assert [row["NetworkMessageId"] for row in kql.run(parsed, scan)] == ["id-20", "id-30"]
        assert read == ["id-20", "id-30"]
