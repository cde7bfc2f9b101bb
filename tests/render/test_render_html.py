"""The HTML page: well-formed, self-contained, escaped, and carrying the review content."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

from syncengine.models import Action, FieldChange, Op, Plan, RunReport
from syncengine.render import plan_html, render, report_html

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


class _Checker(HTMLParser):
    """Tracks open elements; records every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def test_page_is_balanced_and_self_contained(plan: Plan, report: RunReport) -> None:
    for page in (plan_html(plan), report_html(report)):
        assert page.startswith("<!DOCTYPE html>\n")
        checker = _check(page)
        for tag in ("html", "head", "body", "main", "header", "style"):
            assert checker.tags.count(tag) == 1, tag
        assert "script" not in checker.tags
        assert not [
            name for name, _ in checker.attrs if name in {"src", "href"} or name.startswith("on")
        ]
        assert "url(" not in page
        assert "@import" not in page


def test_hostile_values_show_as_text(plan: Plan, report: RunReport, hostile: str) -> None:
    page = report_html(report)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    text = "".join(_check(page).text)
    assert hostile in text  # the reader sees the value itself
    assert "[bold]markup[/bold]" in text


def test_header_and_cards(report: RunReport) -> None:
    page = report_html(report)
    assert "<title>Sync run 42: crm→ghl</title>" in page
    assert '<span class="badge live">applied</span>' in page
    assert "<span>run 42</span>" in page
    assert '<time datetime="2025-03-01T12:00:00+00:00">' in page
    assert "took 7.25 s" in page
    for value, label in (
        ("3", "Held conflicts"),
        ("1", "Failed"),
        ("1", "Quarantined"),
        ("40", "Calls to b"),
    ):
        assert f'{value}</div><div class="label">{label}</div>' in page


def test_plan_page_is_a_dry_run_without_clock(plan: Plan) -> None:
    page = plan_html(plan)
    assert '<span class="badge dry">dry run</span>' in page
    assert "<time" not in page
    stamped = plan_html(plan, generated_at=datetime(2025, 1, 2, 3, 4, tzinfo=UTC), title="Preview")
    assert '<time datetime="2025-01-02T03:04:00+00:00">' in stamped
    assert "<title>Preview</title>" in stamped


def test_held_conflicts_side_by_side_with_commands(plan: Plan) -> None:
    page = plan_html(plan, conflict_ids={"task:t9:tb9:title": 5})
    held = page[page.index('<section id="held">') : page.index('<section id="resolved">')]
    assert held.count('<table class="sides">') == 3
    assert "<th>base</th><th>a</th><th>b</th>" in held
    assert "syncengine resolve 5 --keep a\nsyncengine resolve 5 --keep b\n" in held
    assert "syncengine resolve contact:a4:b4:email --keep a" in held
    assert '<td class="changed">\n<code>(deleted)</code>' in held
    # The nested conflict shows only the keys each side changed, highlighted.
    assert '<span class="path">plan</span>: <del><code>&#34;gold&#34;</code></del>' in held
    assert "<ins><code>&#34;silver&#34;</code></ins>" in held
    assert '<span class="path">tier</span>' in held


def test_resolved_conflict_marks_the_kept_side(plan: Plan) -> None:
    page = plan_html(plan)
    resolved = page[page.index('<section id="resolved">') : page.index('<section id="duplicates">')]
    assert (
        '<td class="changed winner"><span class="kept">kept</span> <code>&#34;+4930333&#34;</code>'
        in resolved
    )
    assert "b wins (newest_wins)" in resolved
    assert "syncengine resolve" not in resolved


def test_operations_duplicates_and_nested_paths(plan: Plan) -> None:
    page = plan_html(plan)
    assert "syncengine never merges automatically" in page
    assert '<span class="path">custom_fields.address.city</span>' in page
    assert (
        '<li class="line removed"><span class="path">tags</span>: '
        "<del>\u2212 <code>&#34;lead&#34;</code>" in page
    )
    assert (
        '<li class="line set"><span class="path">first_name</span> = '
        "<code>&#34;Zoë&#34;</code></li>" in page
    )
    assert "<h3>Links (both sides) — 1 operation</h3>" in page
    assert '<td class="action delete">delete</td>' in page
    assert "<td>forget</td><td>contact</td><td><code>a10</code></td>" in page


def test_long_values_are_cut_with_the_full_value_in_a_tooltip() -> None:
    op = Op("a", Action.UPDATE, "note", "n", "m", changes=(FieldChange("body", "x", "y" * 3000),))
    page = plan_html(Plan("c", operations=(op,)))
    assert "y" * 2000 not in page
    assert f'<code title="&#34;{"y" * 1998}…">' in page
    assert f">&#34;{'y' * 198}…</code>" in page


def test_report_outcomes_problems_calls(report: RunReport) -> None:
    page = report_html(report)
    assert '<td class="bad">failed: HTTP 503 from side b (3 attempts)</td>' in page
    assert '<td class="good">done → b2</td>' in page
    assert '<td class="muted">not run</td>' in page
    assert "<h2>Problems (1)</h2>" in page
    assert "<tr><td>a</td><td>12</td></tr>" in page


def test_html_is_deterministic(plan: Plan, report: RunReport) -> None:
    assert render(plan, "html") == plan_html(plan) == plan_html(plan)
    assert render(report, "html") == report_html(report)
