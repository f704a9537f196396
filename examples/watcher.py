#!/usr/bin/env python3
"""watcher.py: a Python host of m365sync.

Starts the Graph simulator and an engine mirroring its drives, waits for the
first crawl, then creates a few files and prints every event as it arrives,
acknowledging each once printed (pull-style delivery).

    pip install ./bindings/python   # or, after cargo build: PYTHONPATH=bindings/python
    python3 examples/watcher.py --changes 3
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from typing import Optional, Sequence

import m365sync
from m365sync import Engine, EventKind, Simulator


def show(event: m365sync.Event) -> None:
    kind = event.kind.name.lower() if isinstance(event.kind, EventKind) else str(event.kind)
    where = event.path or event.drive_id
    moved = f" (was {event.old_path})" if event.old_path else ""
    print(f"{event.seq:>5} {kind:<20} {where}{moved}", flush=True)


def watch_until(engine: Engine, done, timeout: float) -> int:
    """Prints and acknowledges events until `done(event)` is true; returns how many."""
    count = 0
    for event in engine.events(timeout=timeout):
        show(event)
        engine.ack(event.seq)
        count += 1
        if done(event):
            return count
    raise TimeoutError(f"no event for {timeout} s")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50, help="items in the simulated tenant")
    parser.add_argument("--changes", type=int, default=3, help="files to create once crawled")
    parser.add_argument("--database", help="SQLite store (default: a temporary directory)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for an event")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    m365sync.forward_to_logging(m365sync.LogLevel.WARN)

    with tempfile.TemporaryDirectory() as tmp, Simulator(items=args.items, seed=7) as sim:
        database = args.database or os.path.join(tmp, "watcher.db")
        config = sim.engine_config(database=database, poll_interval_secs=1)
        with Engine(config) as engine:
            engine.start()
            drives = len(config["drives"])
            print(f"m365sync {m365sync.library_version()}: {drives} drives at {sim.url}")
            crawled = 0

            def all_crawled(event: m365sync.Event) -> bool:
                nonlocal crawled
                crawled += event.kind == EventKind.CRAWL_COMPLETED
                return crawled == drives

            total = watch_until(engine, all_crawled, args.timeout)
            drive = config["drives"][0]
            for i in range(args.changes):
                path = f"/note-{i}.txt"
                sim.create(drive, "root", path[1:], content="hello " * (i + 1))
                total += watch_until(
                    engine,
                    lambda e, path=path: e.kind == EventKind.CREATED and e.path == path,
                    args.timeout,
                )
            print(f"watched {total} events; status: {engine.status()['events_by_kind']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
