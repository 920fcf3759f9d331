"""AMI parser throughput: fcmdash's ``Parser`` against panoramisk's on the same bytes.

    .venv/bin/python bench/ami_parse.py [--events 200000] [--runs 3] [--chunk 65536]

Both parsers get the same realistic stream (``bench/streams.py``) cut into the same socket-sized
reads. fcmdash runs as the worker runs it, ``Parser(keep_events=WANTED_EVENTS)``, and once more
without the filter. panoramisk runs its real path: ``AMIProtocol.data_received`` (decode, split,
``Message.from_line``, ``handle_message``) with a transport and factory that only count what
they are handed. Events/s is the stream's events over the wall time of parsing all of it; the
best of ``--runs`` rounds is kept. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.streams import realistic_stream  # noqa: E402
from monitor.ami.events import WANTED_EVENTS  # noqa: E402
from monitor.ami.parser import Parser  # noqa: E402


def run_fcmdash(chunks: list[bytes], keep: frozenset[str] | None) -> tuple[int, int]:
    """Packets handed out, and events the filter skipped."""
    parser = Parser(expect_banner=False, keep_events=keep)
    handed_out = 0
    for chunk in chunks:
        parser.feed(chunk)
        handed_out += len(parser.packets())
    return handed_out, parser.skipped


class _CountingFactory:
    """Stands in for ``panoramisk.Manager``: ``dispatch`` is where its events end up."""

    save_stream = None

    def __init__(self) -> None:
        self.events = 0

    def dispatch(self, event: object) -> list[str]:
        self.events += 1
        return []


class _NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def run_panoramisk(chunks: list[bytes]) -> tuple[int, int]:
    from panoramisk.ami_protocol import AMIProtocol

    protocol = AMIProtocol()
    protocol.connection_made(_NullTransport())
    factory = _CountingFactory()
    protocol.factory = factory
    protocol.version = ""  # already past the banner, as our parser is (expect_banner=False)
    for chunk in chunks:
        protocol.data_received(chunk)
    return factory.events, 0


def timed(fn: Callable[[], tuple[int, int]]) -> tuple[float, tuple[int, int]]:
    gc.collect()
    start = time.perf_counter()
    counts = fn()
    return time.perf_counter() - start, counts


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=65536)
    args = ap.parse_args(argv)

    stream = realistic_stream(args.events)
    chunks = stream.chunks(args.chunk)
    mb = len(stream.data) / 1e6
    skippable = sum(n for name, n in stream.counts.items() if name.lower() not in WANTED_EVENTS)
    wanted = stream.events - skippable
    print(
        f"stream: {stream.events} events, {mb:.1f} MB, {len(chunks)} reads of {args.chunk} B, "
        f"{100 * skippable / stream.events:.0f}% events the dashboard does not use; "
        f"Python {platform.python_version()}, best of {args.runs}"
    )

    # (label, run, packets it must hand out and events it must skip): a parser that loses
    # events, or a filter that skips too many, would look fast for the wrong reason.
    rows = [
        ("fcmdash filtered", lambda: run_fcmdash(chunks, WANTED_EVENTS), (wanted, skippable)),
        ("fcmdash unfiltered", lambda: run_fcmdash(chunks, None), (stream.events, 0)),
        ("panoramisk", lambda: run_panoramisk(chunks), (stream.events, 0)),
    ]
    # Rounds take turns (ours, ours, theirs, ours, ...) so that a busy moment on the machine
    # weighs on every parser alike; each keeps its best round.
    results = dict.fromkeys((label for label, _, _ in rows), float("inf"))
    for _ in range(args.runs):
        for label, fn, expected in rows:
            seconds, counts = timed(fn)
            if counts != expected:
                raise SystemExit(f"{label}: (handed out, skipped) {counts}, expected {expected}")
            results[label] = min(results[label], seconds)
    print(f"{'parser':<20} {'events/s':>12} {'MB/s':>8} {'seconds':>8}")
    for label, seconds in results.items():
        print(f"{label:<20} {stream.events / seconds:>12,.0f} {mb / seconds:>8.1f} {seconds:>8.3f}")

    ours = stream.events / results["fcmdash filtered"]
    theirs = stream.events / results["panoramisk"]
    summary = {
        "events_per_s": round(ours),
        "panoramisk_events_per_s": round(theirs),
        "ratio": round(ours / theirs, 2),
        "unfiltered_events_per_s": round(stream.events / results["fcmdash unfiltered"]),
        "unfiltered_ratio": round(results["panoramisk"] / results["fcmdash unfiltered"], 2),
        "events": stream.events,
        "mb": round(mb, 1),
        "chunk": args.chunk,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
