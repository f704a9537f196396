"""Engine over ctypes: configuration errors, lifecycle, push and pull delivery."""

from __future__ import annotations

import threading
import unittest
from typing import List

import m365sync
from m365sync import Event, EventKind

from support import SimTestCase, wait_until


class Configuration(SimTestCase):
    def test_unknown_key_names_the_key(self) -> None:
        config = self.sim.engine_config(database=f"{self.tmp.name}/x.db", wrokers=2)
        with self.assertRaises(m365sync.InvalidConfigError) as caught:
            m365sync.Engine(config)
        self.assertIn("wrokers", str(caught.exception))
        self.assertEqual(caught.exception.code, m365sync.ResultCode.INVALID_CONFIG)

    def test_bad_value_and_missing_field(self) -> None:
        with self.assertRaisesRegex(m365sync.InvalidConfigError, "workers"):
            self.engine(workers=0)
        with self.assertRaisesRegex(m365sync.InvalidConfigError, "database"):
            m365sync.Engine({"tenant_id": "t", "client_id": "c", "client_secret": "s"})

    def test_unserialisable_config_is_a_python_error(self) -> None:
        with self.assertRaises(TypeError):
            m365sync.Engine({"database": object()})


class Lifecycle(SimTestCase):
    def test_start_twice_double_stop_and_idempotent_close(self) -> None:
        engine = self.engine()
        engine.start()
        with self.assertRaisesRegex(m365sync.StateError, "already started"):
            engine.start()
        engine.stop()
        engine.stop()
        self.assertFalse(engine.status()["running"])
        engine.close()
        engine.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            engine.status()

    def test_close_while_running(self) -> None:
        seen: List[Event] = []
        with self.engine() as engine:
            engine.set_event_callback(seen.append)
            engine.start()
            wait_until("a first event", lambda: len(seen) > 0)
        # Closed while running: the dispatcher was joined, nothing arrives any more.
        count = len(seen)
        threading.Event().wait(0.1)
        self.assertEqual(len(seen), count)


class Collection(SimTestCase):
    def test_a_dropped_engine_with_a_callback_is_freed(self) -> None:
        import gc
        import weakref

        engine = m365sync.Engine(self.sim.engine_config(database=f"{self.tmp.name}/gc.db"))
        engine.set_event_callback(lambda _event: None)
        engine.start()
        alive = weakref.ref(engine)
        # Freed by reference counting alone: the callback does not keep it alive.
        gc.disable()
        try:
            del engine
            self.assertIsNone(alive())
        finally:
            gc.enable()


class PushDelivery(SimTestCase):
    def test_refused_and_failing_events_are_delivered_again(self) -> None:
        engine = self.engine()
        seen: List[int] = []
        answers = iter([False, "raise"])

        def callback(event: Event) -> bool:
            seen.append(event.seq)
            answer = next(answers, True)
            if answer == "raise":
                raise RuntimeError("host failure")
            return answer

        engine.set_event_callback(callback)
        with self.assertLogs("m365sync", "ERROR") as logs:
            engine.start()
            wait_until("the first event three times", lambda: seen.count(seen[0] if seen else -1) >= 3)
            wait_until("later events", lambda: len(set(seen)) >= 2)
        self.assertIn("host failure", "\n".join(logs.output))
        self.assertEqual(seen[:3], [seen[0]] * 3)
        engine.stop()
        self.assertGreaterEqual(engine.status()["acked_seq"], seen[0])

    def test_changes_arrive_as_events_and_stop_inside_the_callback(self) -> None:
        engine = self.engine()
        drives = len(self.sim.drive_ids())
        kinds: List[Event] = []
        stop_on = threading.Event()
        stopped = threading.Event()

        def callback(event: Event) -> None:
            kinds.append(event)
            if stop_on.is_set():
                engine.stop()
                stopped.set()

        engine.set_event_callback(callback)
        engine.start()
        wait_until("the first crawls", lambda: sum(e.kind == EventKind.CRAWL_COMPLETED for e in kinds) == drives)
        drive = self.sim.drive_ids()[0]
        item = self.sim.create(drive, "root", "python.txt", content="hi")
        wait_until("created", lambda: any(e.kind == EventKind.CREATED and e.path == "/python.txt" for e in kinds))
        created = next(e for e in kinds if e.kind == EventKind.CREATED)
        self.assertEqual((created.item_id, created.drive_id, created.size), (item["id"], drive, 2))
        # Facets come along as a dict: the file's type, hashes and authors.
        self.assertEqual(created.facets["mime_type"], "text/plain")
        self.assertIn("quick_xor", created.facets["hashes"])
        self.assertIn("name", created.facets["created_by"])
        stop_on.set()
        self.sim.update(drive, item["id"], name="renamed.txt")
        wait_until("the stop inside the callback", stopped.is_set)
        self.assertFalse(engine.status()["running"])

    def test_close_inside_the_callback_only_stops(self) -> None:
        engine = self.engine()
        done = threading.Event()

        def callback(_event: Event) -> None:
            with self.assertLogs("m365sync", "WARNING"):
                engine.close()
            done.set()

        # Set after start(): Engine::start publishes its running state only after
        # spawning the dispatcher, so a stop() from a callback before that is lost.
        engine.start()
        engine.set_event_callback(callback)
        wait_until("the callback", done.is_set)
        self.assertFalse(engine.status()["running"])
        engine.close()


class PullDelivery(SimTestCase):
    def test_events_iterator_with_ack(self) -> None:
        engine = self.engine()
        drives = len(self.sim.drive_ids())
        first = list(engine.events(timeout=0))
        self.assertEqual([e.kind for e in first], [EventKind.DRIVE_ADDED] * drives)
        # Not acknowledged: they come again.
        self.assertEqual(list(engine.events(timeout=0)), first)
        engine.ack(first[0].seq)
        self.assertEqual(list(engine.events(timeout=0)), first[1:])
        engine.ack(first[-1].seq)
        self.assertEqual(engine.next_events(timeout=0), [])
        engine.start()
        crawled = 0
        for event in engine.events(timeout=30):
            engine.ack(event.seq)
            crawled += event.kind == EventKind.CRAWL_COMPLETED
            if crawled == drives:
                break
        self.assertEqual(crawled, drives)
        self.assertEqual(engine.next_events(timeout=0), [])

    def test_next_events_validates_arguments(self) -> None:
        engine = self.engine()
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "max_events"):
            engine.next_events(max_events=0)


if __name__ == "__main__":
    unittest.main()
