"""The day's tables as CSV: ``/today/queues.csv``, ``/today/agents.csv``, ``/today/calls.csv``
(``?date=`` and ``?pbx=`` as on the Today page).

For Excel: UTF-8 with a byte order mark (else it reads the file as the locale's code page), and
no cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) as it is:
a caller name is whatever the caller's network sent, and Excel runs such a cell as a formula
(OWASP "CSV Injection"). Those get a leading apostrophe, which Excel shows as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from ..history import tables
from ..history.report import build
from ..history_models import ReportSettings
from .access import viewer_required
from .pages import selected_pbxes
from .today import chosen_window, date_value

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One value as a CSV cell that no spreadsheet runs."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        value = "; ".join(f"{k or 'no reason'}: {v}" for k, v in value.items())
    text = str(value)
    if text.startswith(DANGEROUS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    """A negative number is a number, not a formula (we write none, but a PBX's might)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_lines(header: Iterable[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)

    def line(values: Iterable[Any]) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow([cell(v) for v in values])
        return out.getvalue()

    header = list(header)
    yield "\ufeff" + line(header)
    for row in rows:
        yield line(row[k] for k in header)


def _download(
    request: HttpRequest,
    name: str,
    header: Iterable[str],
    rows: Callable[[Any], Iterable],
    *,
    numbers: bool = True,
) -> HttpResponse:
    """The CSV of ``rows(report)``; ``numbers`` False: the table needs no counting (the calls'
    rows), ``rows`` gets ``(pbxes by id, window)``."""
    report_settings = ReportSettings.current()
    now = timezone.now()
    window = chosen_window(request, report_settings, now)
    pbxes = selected_pbxes(request)
    if numbers:
        source: Any = build(pbxes, window, now, report_settings)
    else:
        source = ({p.pk: p for p in pbxes}, window)
    # Built whole rather than streamed: a day's 20,000 calls are a few MB, and Daphne would
    # collect a streamed body from a synchronous iterator anyway.
    response = HttpResponse(
        "".join(csv_lines(header, rows(source))).encode(), content_type="text/csv; charset=utf-8"
    )
    filename = f"fcmdash-{name}-{date_value(window)}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@viewer_required
def queues_csv(request: HttpRequest) -> HttpResponse:
    header = ("pbx", "queue", *tables.QUEUE_COLUMNS, "exit_empty", "abandon_rate_pct")

    def rows(report: Any) -> Iterable[dict[str, Any]]:
        for row, q in zip(tables.queue_rows(report), report.numbers.queues, strict=True):
            missing = report.missing.get(q.pbx_id, {})
            for extra in ("exit_empty", "abandon_rate_pct"):
                row[extra] = None if extra in missing else getattr(q, extra)
            yield row

    return _download(request, "queues", header, rows)


@viewer_required
def agents_csv(request: HttpRequest) -> HttpResponse:
    header = ("pbx", "interface", "name", *tables.AGENT_COLUMNS, "available_s")

    def rows(report: Any) -> Iterable[dict[str, Any]]:
        for row, a in zip(tables.agent_rows(report), report.numbers.agents, strict=True):
            missing = report.missing.get(a.pbx_id, {})
            row["available_s"] = None if "available_s" in missing else round(a.available_s)
            yield row

    return _download(request, "agents", header, rows)


@viewer_required
def calls_csv(request: HttpRequest) -> HttpResponse:
    return _download(
        request,
        "calls",
        ("pbx", *tables.CALL_COLUMNS),
        lambda source: tables.call_rows(*source),
        numbers=False,
    )
