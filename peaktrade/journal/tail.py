"""Live tail of the journal: one watchdog observer per process, a broker fanning out batches.

Watchdog events are only wake-up hints; a poll every `poll_interval_s` backs them up.
Each watched session has one JournalCursor (byte offset, partial lines, rotation).
Every batch of new records is filtered and rendered once per (session, filter, render)
group and handed to the bounded queue of each subscriber of that group. A subscriber
that falls behind is not waited for: its queue is emptied and it re-reads the journal
from the last seq it delivered, so nothing is lost or repeated.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from peaktrade.events import validate_session_id
from peaktrade.journal.cursor import JournalCursor
from peaktrade.journal.files import ACTIVE_SUFFIX
from peaktrade.journal.reader import read_events

Render = Callable[[list[dict]], Any]
DEFAULT_QUEUE_BATCHES = 256
BACKLOG_CHUNK_RECORDS = 2000
_log = logging.getLogger(__name__)
_HINT_EVENTS = frozenset({"created", "modified", "moved", "deleted"})


@dataclass(frozen=True)
class RecordFilter:
    """Which records a subscriber wants; empty sets mean every value."""

    kinds: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()
    strategy: str | None = None
    decisions: frozenset[str] = frozenset()

    def matches(self, rec: Mapping[str, Any]) -> bool:
        """Whether one record passes every part of the filter."""
        return ((not self.kinds or rec["kind"] in self.kinds)
                and (not self.symbols or rec["symbol"] in self.symbols)
                and (self.strategy is None or rec["strategy"] == self.strategy)
                and (not self.decisions or rec["payload"].get("decision") in self.decisions))

    def select(self, records: Iterable[dict]) -> list[dict]:
        """The matching records, in order."""
        return [rec for rec in records if self.matches(rec)]


ALL_RECORDS = RecordFilter()


@dataclass(frozen=True)
class Batch:
    """Matching records of one tail read, and what the group's render made of them once."""

    first_seq: int
    last_seq: int
    records: tuple[dict, ...]
    rendered: Any = None


@dataclass
class _Group:
    session_id: str
    record_filter: RecordFilter
    render: Render | None
    subscribers: list[Subscription] = field(default_factory=list)


class Subscription:
    """One consumer of a session's live records: backlog from the journal, then live batches."""

    def __init__(self, broker: Broker, group: _Group, after_seq: int | None,
                 max_batches: int, backlog_chunk: int) -> None:
        self.broker = broker
        self.session_id = group.session_id
        self.record_filter = group.record_filter
        self.render = group.render
        self.last_seq = after_seq or 0
        self.overflows = 0
        self._group = group
        self._needs_backlog = after_seq is not None
        self._backlog: Iterator[dict] | None = None
        self._reread = False
        self._max_batches = max_batches
        self._backlog_chunk = backlog_chunk
        # A C-level queue: waking a hundred stream threads per batch stays cheap.
        self._queue: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._held: list[Batch] = []  # taken off the queue, waiting for a replay to end
        self._flags = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, batch: Batch) -> None:
        """Queue a live batch; when the queue is full, drop it all and re-read later."""
        if self._queue.qsize() >= self._max_batches:
            with self._flags:
                self._take_queued()
                self._needs_backlog = True
                self._reread = True  # a replay in progress may not cover what was dropped
                self.overflows += 1
        self._queue.put(batch)

    def wake(self) -> None:
        """Make a waiting `next_batches` return now (e.g. on shutdown)."""
        self._queue.put(None)

    def next_batches(self, timeout: float | None) -> list[Batch]:
        """Batches after `last_seq`, waiting up to `timeout` seconds; [] when none came.

        While the journal is being caught up (a replay, or after an overflow) each call
        returns one chunk of it and the live batches wait their turn.
        """
        with self._flags:
            needs_backlog = self._needs_backlog
        if not needs_backlog and not self._held and not self._closed:
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                return []
            if first is not None:
                self._held.append(first)
        with self._flags:
            # Taken with the flag: batches queued after an overflow wait for the replay.
            self._held += self._take_queued()
            needs_backlog, self._needs_backlog = self._needs_backlog, False
        if needs_backlog:
            backlog, more = self._read_backlog()
            if more:
                with self._flags:
                    self._needs_backlog = True
            return [backlog] if backlog is not None else []
        queued, self._held = self._held, []
        return [fresh for batch in queued if (fresh := self._after_last(batch)) is not None]

    def _take_queued(self) -> list[Batch]:
        out = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if item is not None:
                out.append(item)

    def close(self) -> None:
        """Stop receiving; the broker forgets the subscriber."""
        if not self._closed:
            self._closed = True
            self.broker._unsubscribe(self, self._group)
            self.wake()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_last(self, batch: Batch) -> Batch | None:
        if batch.last_seq <= self.last_seq:
            return None
        if batch.first_seq > self.last_seq:
            self.last_seq = batch.last_seq
            return batch
        # Overlaps what the backlog already delivered: render the new part for this one.
        records = [rec for rec in batch.records if rec["seq"] > self.last_seq]
        self.last_seq = batch.last_seq
        return self._batch(records, batch.first_seq, batch.last_seq) if records else None

    def _read_backlog(self) -> tuple[Batch | None, bool]:
        """The next chunk of records after `last_seq` from the journal, and whether more follow."""
        if self._backlog is None:
            with self._flags:
                self._reread = False
            self._backlog = iter(read_events(self.broker.root, session_id=self.session_id,
                                             after_seq=self.last_seq))
        records: list[dict] = []
        floor = self.last_seq
        more = True
        try:
            for rec in self._backlog:
                if rec["seq"] > floor:  # seq dedupes a segment listed twice mid-compression
                    records.append(rec)
                    floor = rec["seq"]
                if len(records) >= self._backlog_chunk:
                    break
            else:
                self._backlog = None
                with self._flags:
                    more = self._reread
        except FileNotFoundError:
            self._backlog = None  # a segment moved between listing and opening: list again
        if not records:
            return None, more
        first, last = records[0]["seq"], records[-1]["seq"]
        self.last_seq = max(self.last_seq, last)
        kept = self.record_filter.select(records)
        return (self._batch(kept, first, last) if kept else None), more

    def _batch(self, records: list[dict], first_seq: int, last_seq: int) -> Batch:
        rendered = self.render(records) if self.render is not None else None
        return Batch(first_seq, last_seq, tuple(records), rendered)


class _Wakeups(FileSystemEventHandler):
    """Turns file-system events on journal files into wake-ups of the broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _HINT_EVENTS or event.is_directory:
            return
        for path in (event.src_path, event.dest_path):
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if path and path.endswith(ACTIVE_SUFFIX):
                self.broker.wake()
                return


class Broker:
    """Per-process fan-out of a journal directory's new records to live subscribers."""

    def __init__(self, root: str | os.PathLike[str], *, poll_interval_s: float = 2.0,
                 max_batches: int = DEFAULT_QUEUE_BATCHES,
                 backlog_chunk: int = BACKLOG_CHUNK_RECORDS, watch: bool = True) -> None:
        self.root = Path(root)
        self.poll_interval_s = poll_interval_s
        self.max_batches = max_batches
        self.backlog_chunk = backlog_chunk
        self.watch = watch
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, RecordFilter, Render | None], _Group] = {}
        self._cursors: dict[str, JournalCursor] = {}
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self.batches_read = 0
        self.renders = 0

    def subscribe(self, session_id: str, record_filter: RecordFilter = ALL_RECORDS,
                  render: Render | None = None, *, after_seq: int | None = None) -> Subscription:
        """Subscribe to a session's new records; `after_seq` first replays the journal."""
        validate_session_id(session_id)
        self._start()
        key = (session_id, record_filter, render)
        with self._lock:
            if session_id not in self._cursors:
                self._cursors[session_id] = JournalCursor(self.root, session_id, after_seq=None)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(session_id, record_filter, render)
            if after_seq is None:
                after_seq_now = self._cursors[session_id].last_seq
                sub = Subscription(self, group, None, self.max_batches, self.backlog_chunk)
                sub.last_seq = after_seq_now
            else:
                sub = Subscription(self, group, after_seq, self.max_batches,
                                   self.backlog_chunk)
            group.subscribers.append(sub)
        return sub

    def subscriber_count(self, session_id: str | None = None) -> int:
        """How many live subscribers there are (of one session, or in all)."""
        with self._lock:
            return sum(len(g.subscribers) for g in self._groups.values()
                       if session_id is None or g.session_id == session_id)

    def wake(self) -> None:
        """Read the journal now (a hint that something was appended)."""
        self._wake.set()

    def pump(self) -> int:
        """Read every watched session once and fan the new records out; returns how many."""
        with self._lock:
            cursors = list(self._cursors.items())
        total = 0
        for session_id, cursor in cursors:
            records = cursor.poll()
            if records:
                total += len(records)
                self._fan_out(session_id, records)
        return total

    def stop(self) -> None:
        """Stop the observer and the pump thread, release every subscriber."""
        self._stopping = True
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with self._lock:
            groups = list(self._groups.values())
            self._groups.clear()
            for cursor in self._cursors.values():
                cursor.close()
            self._cursors.clear()
        for group in groups:
            for sub in group.subscribers:
                sub._closed = True
                sub.wake()

    def _fan_out(self, session_id: str, records: list[dict]) -> None:
        self.batches_read += 1
        first, last = records[0]["seq"], records[-1]["seq"]
        with self._lock:
            groups = [g for g in self._groups.values()
                      if g.session_id == session_id and g.subscribers]
        for group in groups:
            kept = group.record_filter.select(records)
            if not kept:
                continue
            rendered = None
            if group.render is not None:
                rendered = group.render(kept)
                self.renders += 1
            batch = Batch(first, last, tuple(kept), rendered)
            with self._lock:
                subscribers = list(group.subscribers)
            for sub in subscribers:
                sub.offer(batch)

    def _unsubscribe(self, sub: Subscription, group: _Group) -> None:
        with self._lock:
            if sub in group.subscribers:
                group.subscribers.remove(sub)
            key = (group.session_id, group.record_filter, group.render)
            if not group.subscribers and self._groups.get(key) is group:
                del self._groups[key]
            if not any(g.session_id == group.session_id for g in self._groups.values()):
                cursor = self._cursors.pop(group.session_id, None)
                if cursor is not None:
                    cursor.close()

    def _start(self) -> None:
        if self._thread is not None or self._stopping:
            return
        with self._lock:
            if self._thread is not None:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            if self.watch:
                observer = Observer()
                observer.daemon = True
                observer.schedule(_Wakeups(self), str(self.root), recursive=False)
                observer.start()
                self._observer = observer
            thread = threading.Thread(target=self._run, name="journal-tail", daemon=True)
            thread.start()
            self._thread = thread

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.pump()
            except Exception:  # the tail must outlive one bad read; the next poll retries
                _log.exception("journal tail of %s failed; retrying", self.root)


_BROKERS: dict[tuple[int, Path], Broker] = {}
_BROKERS_LOCK = threading.Lock()


def broker_for(root: str | os.PathLike[str], *, poll_interval_s: float = 2.0) -> Broker:
    """The broker of this process for a journal directory (created on first use, after fork)."""
    key = (os.getpid(), Path(root).resolve())
    with _BROKERS_LOCK:
        broker = _BROKERS.get(key)
        if broker is None:
            broker = _BROKERS[key] = Broker(root, poll_interval_s=poll_interval_s)
        return broker


def release_broker(root: str | os.PathLike[str]) -> None:
    """Stop this process's broker of a journal directory, if it has one."""
    with _BROKERS_LOCK:
        broker = _BROKERS.pop((os.getpid(), Path(root).resolve()), None)
    if broker is not None:
        broker.stop()


def _forget_after_fork() -> None:
    global _BROKERS_LOCK
    _BROKERS.clear()
    _BROKERS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
