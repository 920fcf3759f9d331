"""A pytest plugin for the whole suite: the reliability ledger and the secret watch.

Loaded by ``tests/conftest.py`` (``pytest_plugins``), so it sees every test, not only those in
``tests/reliability``.

**Ledger.** Tests call the ``record`` fixture, ``record(area, what, outcome)``, once per attempt
("PBX restart mid-call", "survived"), and :func:`fuzzed` once per generated input (hypothesis
tests cannot take function fixtures). An attempt counts when its test passes; the attempts of a
failing test show as FAILED. At the end of the session the table goes to
``test-artifacts/reliability.md``; when the run covered every test file that adds to the
ledger (all of ``tests/reliability`` and the parser's fuzzing in ``tests/ami``) with nothing of
theirs deselected, to ``docs/reliability.md`` too, and with
``FCMDASH_TEST_WRITE_RELIABILITY=1`` (``make reliability-table``) into README.md between the
``<!-- reliability:start -->`` / ``<!-- reliability:end -->`` markers. (The variable starts with
``FCMDASH_TEST_`` because ``fcmdash.pytest_plugin`` removes every other ``FCMDASH_*``.)

**Secret watch.** Every text the run produces is searched for :data:`TEST_SECRETS` (AMI
secrets the tests give the simulator and the Pbx rows): each log record (raw, before the log
formatter masks anything), each test's captured stdout/stderr/log, each response of Django's
test clients, each WebSocket frame a test receives, whatever a test hands to the ``watch``
fixture (browser pages), and at the end every file under ``test-artifacts/`` and the ``*.log``
files of the session's var dir (the Daphne and amiworker processes). A hit fails the session
and names where it was seen.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .ledger import Ledger, render, replace_between_markers

# The AMI secrets the tests use. Distinctive strings only: a user name or a word that may
# legitimately appear on a page would be a false alarm.
TEST_SECRETS = ("Rel-Canary-S3cret-4f1d", "wb1pass9", "s3cret")
WRITE_README = "FCMDASH_TEST_WRITE_RELIABILITY"
RELIABILITY_DIR = Path(__file__).resolve().parent
REPO_DIR = RELIABILITY_DIR.parents[1]


@dataclass
class Watch:
    """Where the run's texts were searched, and what was found."""

    secrets: tuple[str, ...] = TEST_SECRETS
    searched: Counter[str] = field(default_factory=Counter)
    hits: list[str] = field(default_factory=list)
    test: str = "(outside a test)"

    def text(self, text: str | bytes | None, where: str, detail: str = "") -> None:
        if not text:
            return
        self.searched[where] += 1
        where = f"{where} {detail}".strip()
        data = text if isinstance(text, str) else text.decode("utf-8", "replace")
        for secret in self.secrets:
            at = data.find(secret)
            if at >= 0 and len(self.hits) < 50:
                snippet = data[max(0, at - 60) : at + len(secret) + 20].replace("\n", "\\n")
                self.hits.append(f"{where} in {self.test}: ...{snippet}...")


LEDGER = Ledger()
WATCH = Watch()
_pending: list[tuple[str, str, str, int]] = []
_fuzz_pending: Counter[str] = Counter()


def fuzzed(kind: str, count: int = 1) -> None:
    """Count ``count`` generated inputs of ``kind`` (call it in a hypothesis test's body)."""
    _fuzz_pending[kind] += count


def record(area: str, what: str, outcome: str, times: int = 1) -> None:
    """``times`` attempts at ``what`` that ended ``outcome``; counted once the test passes."""
    LEDGER.add(area, what, outcome, 0)  # checks the words now, where the mistake is
    _pending.append((area, what, outcome, times))


@pytest.fixture(name="record")
def record_fixture() -> Any:
    """``record(area, what, outcome, times=1)``: see :func:`record`."""
    return record


@pytest.fixture
def watch() -> Any:
    """``watch(text, where)``: search a text the run produced (a browser page) for secrets."""
    return WATCH.text


# -- log records and test output ----------------------------------------------------------------
class WatchHandler(logging.Handler):
    """Hands every log record, formatted with its traceback but unmasked, to a Watch."""

    def __init__(self, watch: Watch) -> None:
        super().__init__(logging.NOTSET)
        self.watch = watch
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.watch.text(self.format(record), "log record")
        except Exception:  # noqa: BLE001 - a watch must never break the code it watches
            self.handleError(record)


_HANDLER = WatchHandler(WATCH)


def _attach_handler() -> None:
    # Something may reconfigure logging (dictConfig) during the run: attach again if so.
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)


def _patch_clients() -> None:
    """Search every response of Django's and Channels' test clients."""
    from channels.testing import WebsocketCommunicator
    from django.test.client import AsyncClient, Client

    def body(response: Any) -> bytes:
        return b"" if getattr(response, "streaming", False) else response.content

    sync_request = Client.request
    async_request = AsyncClient.request
    receive_from = WebsocketCommunicator.receive_from
    if getattr(sync_request, "_watched", False):
        return

    @functools.wraps(sync_request)
    def request(self: Any, **kw: Any) -> Any:
        response = sync_request(self, **kw)
        WATCH.text(body(response), "page or API body")
        return response

    @functools.wraps(async_request)
    async def arequest(self: Any, **kw: Any) -> Any:
        response = await async_request(self, **kw)
        WATCH.text(body(response), "page or API body")
        return response

    @functools.wraps(receive_from)
    async def receive(self: Any, timeout: float = 1) -> Any:
        frame = await receive_from(self, timeout)
        WATCH.text(frame if isinstance(frame, (str, bytes)) else None, "WebSocket frame")
        return frame

    for fn in (request, arequest, receive):
        fn._watched = True  # type: ignore[attr-defined]
    Client.request = request  # type: ignore[method-assign]
    AsyncClient.request = arequest  # type: ignore[method-assign]
    WebsocketCommunicator.receive_from = receive  # type: ignore[method-assign]


def _files(*roots: Path, pattern: str = "*") -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from (p for p in root.rglob(pattern) if p.is_file())


# -- hooks ----------------------------------------------------------------------------------------
TESTS_DIR = RELIABILITY_DIR.parent


def _ledger_files() -> set[Path]:
    """The test files that add to the ledger: a run that left one out writes a partial table."""
    return {
        path
        for path in TESTS_DIR.rglob("test_*.py")
        if any(call in path.read_text() for call in ("record(", "fuzzed("))
    }


class _State:
    ran_files: set[Path] = set()
    deselected_ledger_test = False


def pytest_sessionstart(session: pytest.Session) -> None:
    _attach_handler()
    with contextlib.suppress(ImportError):  # no Django or Channels: nothing to watch there
        _patch_clients()


def pytest_deselected(items: list[pytest.Item]) -> None:
    wanted = _ledger_files()
    if any(Path(str(item.path)) in wanted for item in items):
        _State.deselected_ledger_test = True


def pytest_collection_finish(session: pytest.Session) -> None:
    _State.ran_files = {Path(str(item.path)) for item in session.items}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _attach_handler()
    WATCH.test = item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if not report.skipped:
            for area, what, result, times in _pending:
                LEDGER.add(area, what, result, times, ok=report.passed)
        _pending.clear()
        for kind, count in _fuzz_pending.items():
            LEDGER.fuzz(kind, count)
        _fuzz_pending.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    where = f"captured output ({report.when})"
    for text in (report.capstdout, report.capstderr, report.caplog):
        WATCH.text(text, where)


def _complete_run() -> bool:
    """Every test file that adds to the ledger ran, none of its tests deselected."""
    wanted = _ledger_files()
    return bool(wanted) and wanted <= _State.ran_files and not _State.deselected_ledger_test


def _secrets_note() -> str:
    return (
        "Secrets: every log record, captured output, page and API body, WebSocket frame and "
        "process log of the run, and every file in `test-artifacts/`, was searched for the "
        f"tests' AMI secrets: {'**found**, see the run' if WATCH.hits else 'never found'}."
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    artifacts = REPO_DIR / "test-artifacts"
    var_dir = Path(os.environ.get("FCMDASH_VAR_DIR", "/nonexistent"))
    WATCH.test = "(after the tests)"
    for path in [*_files(artifacts), *_files(var_dir, pattern="*.log")]:
        if path.name in ("junit.xml", "reliability.md"):
            continue  # written by pytest itself / below: the captured output is searched above
        WATCH.text(path.read_bytes(), "file", str(path))
    if WATCH.hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not LEDGER:
        return
    table = render(LEDGER, secrets_note=_secrets_note())
    artifacts.mkdir(exist_ok=True)
    (artifacts / "reliability.md").write_text(table)
    if not _complete_run():
        return
    doc = (
        "# Reliability: what the test suite tried\n\n"
        "Generated by `tests/reliability/plugin.py` at the end of a run of the whole\n"
        "reliability suite and the parser's fuzzing (`make test` or `make reliability-table`);\n"
        "do not edit by hand.\n\n"
    )
    (REPO_DIR / "docs" / "reliability.md").write_text(doc + table)
    if os.environ.get(WRITE_README, "").lower() in ("1", "true", "yes"):
        readme = REPO_DIR / "README.md"
        readme.write_text(replace_between_markers(readme.read_text(), table))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    tr = terminalreporter
    searched = ", ".join(f"{n:,} {where}" for where, n in WATCH.searched.most_common(6))
    if WATCH.hits:
        tr.section("secret watch: a test secret leaked", red=True)
        for hit in WATCH.hits:
            tr.line(hit)
    elif searched:
        tr.write_line(f"secret watch: no test secret found ({searched}, ...)")
    if LEDGER:
        rows = sum(r.times for r in LEDGER.rows.values())
        fuzz = sum(LEDGER.fuzzed.values())
        where = "docs/reliability.md" if _complete_run() else "test-artifacts/reliability.md"
        tr.write_line(f"reliability: {rows:,} attempts, {fuzz:,} fuzzed inputs -> {where}")
