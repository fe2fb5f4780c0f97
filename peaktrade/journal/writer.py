"""The append side of the journal: one write per batch under an exclusive file lock."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from peaktrade.events import (
    KINDS,
    MODES,
    OPTIONAL_STR_FIELDS,
    SCHEMA_VERSION,
    canonical_ts,
    format_ts,
    parse_line,
    validate_session_id,
)
from peaktrade.journal.files import (
    ARCHIVE_DIR,
    archive_name,
    archive_segments,
    split_archive_name,
)
from peaktrade.journal.integrity import (
    MAX_LINE_BYTES,
    Problem,
    SeqChain,
    scan_chain,
    scan_file,
)

FSYNC_POLICIES = ("never", "interval", "always")
# Level 1 compresses JSON lines ~5x at a fraction of level 6's CPU, which the writing
# process shares with its appends.
ARCHIVE_GZIP_LEVEL = 1
_KIND_SET = frozenset(KINDS)
_MODE_SET = frozenset(MODES)
# Read-write so the tail can be read through the same descriptor (writes still append).
# O_NOFOLLOW: a link planted as a journal file must not send writes outside the root.
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_record(seq: int, ts: str, session_id: str, kind: str, mode: str, symbol: str | None,
               strategy: str | None, intent_id: str | None, order_id: str | None,
               source: str | None, payload: dict) -> dict:
    """A record as the journal writes it: the keys of events.FIELDS, in that order."""
    return {"v": SCHEMA_VERSION, "seq": seq, "ts": ts, "session_id": session_id, "kind": kind,
            "mode": mode, "symbol": symbol, "strategy": strategy, "intent_id": intent_id,
            "order_id": order_id, "source": source, "payload": payload}


class JournalError(RuntimeError):
    """The journal could not be written; nothing of the batch was recorded."""


class JournalIntegrityError(JournalError):
    """The journal breaks the seq rule (or a failed write could not be undone): it is not
    appended to until an operator repairs it."""

    def __init__(self, path: Path, problem: Problem | None, detail: str | None = None) -> None:
        self.path = path
        self.problem = problem
        what = detail or (f"seq {problem.seq} after {problem.after} at line "
                          f"{problem.line_no}" if problem else "unknown")
        super().__init__(f"{path} breaks the journal's integrity rules ({what}); nothing is "
                         "appended to it until `peaktrade journal repair` quarantines the "
                         "offending lines")


class _SessionFile:
    """Per-process, per-session writer state; guarded by `mutex` and the file lock."""

    def __init__(self, root: Path, session_id: str) -> None:
        self.session_id = session_id
        self.path = root / f"{session_id}.jsonl"
        self.path_str = str(self.path)
        self.lock_path = root / f"{session_id}.lock"
        self.mutex = threading.Lock()
        self.lock_fd = -1
        self.fd = -1
        self.ino = -1
        self.known_size = -1  # size after our last write; -1 when unknown
        self.last_seq = 0
        self.chain = SeqChain(path=self.path_str)  # the active file's lines, as read so far
        # Why the file is not appended to (a broken seq chain, an undone write that could
        # not be undone); None while it is sound
        self.broken: JournalIntegrityError | None = None
        self.needs_newline = False
        self.last_fsync = time.monotonic()
        self.dirty = False  # written since the last fsync (the interval policy's flusher)
        # (first seq, last seq) of the segment this process archived last: the end of the
        # session while the new active file is empty, without reading the archive back
        self.rotated: tuple[int, int] | None = None

    def close(self) -> None:
        for fd in (self.fd, self.lock_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = self.lock_fd = self.ino = self.known_size = -1


class SessionWriter:
    """Appends to one session while its lock is held (see Journal.locked)."""

    def __init__(self, journal: Journal, state: _SessionFile) -> None:
        self._journal = journal
        self._state = state

    @property
    def session_id(self) -> str:
        return self._state.session_id

    @property
    def last_seq(self) -> int:
        return self._state.last_seq

    @property
    def broken(self) -> JournalIntegrityError | None:
        """Why this session's journal is not appended to; None while it is sound."""
        return self._state.broken

    @property
    def end(self) -> tuple[int, int, int] | None:
        """(inode, size, lines) of the active file after our last append; None when not
        known."""
        state = self._state
        return (state.ino, state.known_size, state.chain.line_no) \
            if state.fd >= 0 and state.known_size >= 0 else None

    def append(self, events: Iterable[Mapping[str, Any]]) -> list[dict]:
        """Write a batch with one write; returns the written records."""
        return self._journal._write(self._state, events)


class _SessionLock:
    """Journal.locked as a plain context manager (entered once per desk decision)."""

    __slots__ = ("_journal", "_state")

    def __init__(self, journal: Journal, state: _SessionFile) -> None:
        self._journal = journal
        self._state = state

    def __enter__(self) -> SessionWriter:
        state = self._state
        state.mutex.acquire()
        try:
            if state.lock_fd < 0:
                self._journal._open_lock(state)
            fcntl.flock(state.lock_fd, fcntl.LOCK_EX)
        except BaseException:
            state.mutex.release()
            raise
        try:
            self._journal._sync_with_file(state)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return SessionWriter(self._journal, state)

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self._state.lock_fd, fcntl.LOCK_UN)
        finally:
            self._state.mutex.release()


class Journal:
    """Append-only JSONL journal of sessions under one root folder.

    seq is assigned under an exclusive flock on '<session>.lock', so it is unique
    and gap-free per session across threads, processes and rotation.
    """

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int = 10_000_000,
                 fsync: str = "interval", fsync_interval_s: float = 1.0,
                 mode: str = "paper", clock: Clock | None = None,
                 max_line_bytes: int = MAX_LINE_BYTES) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, got {fsync!r}")
        if mode not in _MODE_SET:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes
        # The outcome of the last append (health reads it without touching the disk)
        self.last_append_ok: bool | None = None
        self.last_append_error: str | None = None
        self.last_append_at: float | None = None
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_s
        self.mode = mode
        self.clock: Clock = clock or utc_now
        self._sessions: dict[str, _SessionFile] = {}
        self._sessions_mutex = threading.Lock()
        self._compressors: list[threading.Thread] = []
        self._flusher: threading.Thread | None = None
        self._stamp_second: datetime | None = None
        self._stamp_prefix = ""
        _LIVE_JOURNALS.add(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Clock | None = None) -> Journal:
        """A journal as configured: log_dir, [journal] and mode."""
        section = config["journal"]
        return cls(config["log_dir"], max_bytes=section["max_bytes"], fsync=section["fsync"],
                   fsync_interval_s=section["fsync_interval_s"], mode=config["mode"],
                   clock=clock,
                   max_line_bytes=section["max_line_bytes"])

    def broken_sessions(self) -> dict[str, str]:
        """Sessions this process found breaking the integrity rules, and why."""
        return {sid: str(state.broken) for sid, state in list(self._sessions.items())
                if state.broken is not None}

    def append(self, session_id: str, events: Iterable[Mapping[str, Any]]) -> list[dict]:
        """Append a batch of events to a session with one write; returns the records."""
        # The hot path: the same steps as `locked`, without a generator context manager.
        state = self._sessions.get(session_id) or self._state(session_id)
        with state.mutex:
            if state.lock_fd < 0:
                self._open_lock(state)
            fcntl.flock(state.lock_fd, fcntl.LOCK_EX)
            try:
                self._sync_with_file(state)
                return self._write(state, events)
            finally:
                fcntl.flock(state.lock_fd, fcntl.LOCK_UN)

    def locked(self, session_id: str) -> _SessionLock:
        """Hold the session's exclusive lock: catch up, decide and append as one step."""
        return _SessionLock(self, self._sessions.get(session_id) or self._state(session_id))

    def _open_lock(self, state: _SessionFile) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        state.lock_fd = os.open(state.lock_path,
                                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)

    def flush(self) -> None:
        """fsync every open session and wait for pending archive compression."""
        with self._sessions_mutex:
            states = list(self._sessions.values())
        for state in states:
            with state.mutex:
                if state.fd >= 0:
                    os.fsync(state.fd)
                state.dirty = False
        for thread in list(self._compressors):
            thread.join()
        self._compressors = [t for t in self._compressors if t.is_alive()]

    def close(self) -> None:
        """Flush and close every file this journal holds open."""
        self.flush()
        with self._sessions_mutex:
            for state in self._sessions.values():
                state.close()
            self._sessions.clear()

    def _state(self, session_id: str) -> _SessionFile:
        state = self._sessions.get(session_id)
        if state is None:
            validate_session_id(session_id)
            with self._sessions_mutex:
                state = self._sessions.setdefault(session_id,
                                                  _SessionFile(self.root, session_id))
        return state

    def _sync_with_file(self, state: _SessionFile) -> None:
        """Under the lock: reopen after rotation and learn what other writers appended."""
        if state.fd >= 0:
            st = os.fstat(state.fd)
            # Rotation only follows a write, so an untouched, still-linked segment is current.
            if st.st_size == state.known_size and st.st_nlink > 0:
                return
        try:
            st = os.stat(state.path_str)
        except FileNotFoundError:
            st = None
        if st is None or st.st_ino != state.ino:
            if state.fd >= 0:
                os.close(state.fd)
            state.fd = os.open(state.path, _OPEN_FLAGS, 0o644)
            st = os.fstat(state.fd)
            state.ino = st.st_ino
            state.known_size = -1
        if st.st_size != state.known_size:
            self._scan(state, st.st_size)

    def _scan(self, state: _SessionFile, size: int) -> None:
        """Read what the file holds beyond what this process knows into the seq chain.

        Lines appended by other writers are read once, forward and linearly; a file that
        is new to this process (or shrank) is read from its start. A break of the chain
        leaves the session unwritable until it is repaired.
        """
        start = state.known_size
        if start < 0 or size < start or state.needs_newline:
            start = 0
            state.chain = SeqChain(path=state.path_str)
        chain = state.chain
        state.needs_newline = scan_chain(state.fd, start, size, chain, self.max_line_bytes,
                                         exact=False) > 0
        state.known_size = size
        problem = chain.first_break
        if problem is not None and state.broken is None:
            state.broken = JournalIntegrityError(state.path, problem)
        if chain.last_seq:
            state.last_seq = chain.last_seq
        else:
            state.last_seq = _last_archived_seq(self.root, state.session_id, state.rotated)

    def _write(self, state: _SessionFile, events: Iterable[Mapping[str, Any]]) -> list[dict]:
        """Validate, stamp, serialise and append a batch with one write: all or nothing.

        A short or failed write is undone under the lock (the file truncated back to
        where the batch began, then synced) before the error is raised; if it cannot be
        undone the session is not appended to again (fail closed).
        """
        if state.fd < 0:
            self._sync_with_file(state)
        if state.broken is not None:
            self._outcome(False, str(state.broken))
            raise state.broken
        records = self._records(state, events)
        if not records:
            return []
        data = encode_lines(records, self.max_line_bytes)
        if state.needs_newline:
            data = b"\n" + data
        offset = state.known_size
        try:
            written = os.write(state.fd, data)
            while written < len(data):  # only a nearly full disk writes short
                written += os.write(state.fd, data[written:])
        except OSError as err:
            self._undo(state, offset, err)
            raise JournalError(f"cannot append to {state.path}: {err.strerror}; nothing of "
                               "the batch was recorded") from err
        state.needs_newline = False
        state.known_size += len(data)
        state.last_seq = records[-1]["seq"]
        chain = state.chain
        chain.last_seq = state.last_seq
        chain.line_no += len(records)
        self._outcome(True, None)
        if self.fsync == "always":
            os.fdatasync(state.fd)
        elif self.fsync == "interval":
            now = time.monotonic()
            if now - state.last_fsync >= self.fsync_interval_s:
                os.fdatasync(state.fd)
                state.last_fsync = now
                state.dirty = False
            else:
                state.dirty = True
                if self._flusher is None or not self._flusher.is_alive():
                    self._start_flusher()
        if state.known_size >= self.max_bytes:
            self._rotate(state)
        return records

    def _undo(self, state: _SessionFile, offset: int, err: OSError) -> None:
        """Truncate a failed write away; when that fails too, the session is closed to
        appends, since what the file holds beyond the last complete batch is unknown."""
        try:
            if offset < 0:
                raise OSError(0, "the size before the write is not known")
            os.ftruncate(state.fd, offset)
            os.fsync(state.fd)
        except OSError as undo_err:
            state.broken = JournalIntegrityError(
                state.path, None, f"a failed append ({err.strerror}) could not be undone: "
                f"{undo_err.strerror}")
            state.known_size = -1
            self._outcome(False, str(state.broken))
            return
        state.known_size = offset
        self._outcome(False, f"cannot append to {state.path}: {err.strerror}")

    def _outcome(self, ok: bool, error: str | None) -> None:
        self.last_append_ok = ok
        if error is not None:
            self.last_append_error = error
        self.last_append_at = time.time()

    def _records(self, state: _SessionFile, events: Iterable[Mapping[str, Any]]) -> list[dict]:
        """Validate every event and stamp v, seq, ts; raises before anything is written."""
        if isinstance(events, Mapping):
            events = (events,)
        now: str | None = None
        seq = state.last_seq
        records = []
        session_id = state.session_id
        given_ts: Any = None  # the records of one decision share one ts: checked once
        canonical = ""
        for index, event in enumerate(events):
            if type(event) is not dict and not isinstance(event, Mapping):
                raise ValueError(f"event {index} must be an object with a kind and a payload, "
                                 f"got {type(event).__name__}")
            get = event.get
            kind = get("kind")
            mode = get("mode") or self.mode
            payload = get("payload")
            symbol, strategy = get("symbol"), get("strategy")
            intent_id, order_id, source = get("intent_id"), get("order_id"), get("source")
            if kind not in _KIND_SET or mode not in _MODE_SET or type(payload) is not dict \
                    or not ((symbol is None or type(symbol) is str)
                            and (strategy is None or type(strategy) is str)
                            and (intent_id is None or type(intent_id) is str)
                            and (order_id is None or type(order_id) is str)
                            and (source is None or type(source) is str)):
                payload = _check_event(index, event, mode)
            ts = get("ts")
            if ts is None:
                if now is None:
                    now = self._stamp()
                ts = now
            elif ts is given_ts:
                ts = canonical
            else:
                given_ts, ts = ts, canonical_ts(ts)
                canonical = ts
            seq += 1
            records.append(new_record(seq, ts, session_id, str(kind), mode, symbol, strategy,
                                      intent_id, order_id, source, payload))
        return records

    def _stamp(self) -> str:
        """The canonical time of now; the formatted second is reused within a second."""
        moment = self.clock()
        if moment.tzinfo is not UTC:
            return format_ts(moment)
        second = moment.replace(microsecond=0)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_prefix = format_ts(second)[:20]
        return f"{self._stamp_prefix}{moment.microsecond:06d}Z"

    def _rotate(self, state: _SessionFile) -> None:
        """Rename the full active segment into the archive and compress it after."""
        with open(state.path, "rb") as fh:
            first = parse_line(fh.readline(), 1, state.session_id)
        first_seq = first["seq"] if first else state.last_seq
        state.rotated = (first_seq, state.last_seq)
        archive = self.root / ARCHIVE_DIR
        archive.mkdir(exist_ok=True)
        target = archive / archive_name(state.session_id, first_seq)
        # What the interval policy has not synced yet is synced by the compression thread
        # before it reads the segment, not here under the session lock (~7 ms a rotation).
        sync_first = self.fsync != "never" and state.dirty
        state.dirty = False
        os.rename(state.path, target)
        os.close(state.fd)
        state.fd = state.ino = -1
        state.known_size = -1
        thread = threading.Thread(target=compress_segment, args=(target,),
                                  kwargs={"sync_first": sync_first},
                                  name=f"journal-gzip-{state.session_id}", daemon=True)
        thread.start()
        self._compressors = [t for t in self._compressors if t.is_alive()] + [thread]

    def _start_flusher(self) -> None:
        """Start the thread that fsyncs what was written within the last interval."""
        self._flusher = threading.Thread(target=_flush_every_interval, args=(weakref.ref(self),),
                                         name="journal-fsync", daemon=True)
        self._flusher.start()

    def _fsync_dirty(self) -> bool:
        """fsync every session written since its last fsync; whether any was."""
        with self._sessions_mutex:
            states = list(self._sessions.values())
        synced = False
        for state in states:
            if not state.dirty:
                continue
            started = time.monotonic()
            with state.mutex:
                dirty, state.dirty = state.dirty and state.fd >= 0, False
                if not dirty:
                    continue
                # The disk flush runs on a descriptor of its own, outside the mutex: appends
                # do not wait behind it (what they write meanwhile marks the state dirty).
                try:
                    fd = os.dup(state.fd)
                except OSError:  # no descriptor left: flush under the mutex
                    fd = -1
                    with contextlib.suppress(OSError):
                        os.fdatasync(state.fd)
            if fd >= 0:
                try:
                    with contextlib.suppress(OSError):
                        os.fdatasync(fd)
                finally:
                    os.close(fd)
            state.last_fsync = started
            synced = True
        return synced

    def _after_fork(self) -> None:
        """A forked child must not share lock descriptions with its parent."""
        for state in self._sessions.values():
            state.close()
        self._sessions = {}
        self._sessions_mutex = threading.Lock()
        self._compressors = []
        self._flusher = None


def _flush_every_interval(ref: weakref.ref[Journal]) -> None:
    """The interval policy's flusher: runs while writes keep coming, then ends."""
    idle = 0
    while idle < 3:
        journal = ref()
        if journal is None:
            return
        interval = journal.fsync_interval_s
        del journal
        time.sleep(interval)
        journal = ref()
        if journal is None:
            return
        idle = 0 if journal._fsync_dirty() else idle + 1
        del journal


def _check_event(index: int, event: Mapping[str, Any], mode: Any) -> dict:
    """Say what is wrong with an event (raises ValueError), or return its payload as a dict."""
    kind = event.get("kind")
    if kind not in _KIND_SET:
        raise ValueError(f"event {index}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if mode not in _MODE_SET:
        raise ValueError(f"event {index}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    for name in OPTIONAL_STR_FIELDS:
        value = event.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"event {index}: {name} must be a string or null, got {value!r}")
    payload = event.get("payload")
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ValueError(f"event {index}: payload must be an object, "
                         f"got {type(payload).__name__}")
    return payload


def encode_lines(records: list[dict], max_line: int = MAX_LINE_BYTES) -> bytes:
    """Records as JSON lines, each ending in a newline; a line over `max_line` bytes is
    refused (ValueError), so no reader ever meets one written by the journal."""
    dumps, line = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    try:
        lines = [dumps(r, option=line) for r in records]
    except TypeError as err:
        raise ValueError(f"event payload is not JSON-serialisable: {err}") from None
    data = lines[0] if len(lines) == 1 else b"".join(lines)
    if len(data) > max_line + len(lines):
        for index, encoded in enumerate(lines):
            if len(encoded) - 1 > max_line:
                raise ValueError(f"event {index} encodes to {len(encoded) - 1} bytes, over the "
                                 f"journal's maximum line length of {max_line} bytes")
    return data


def compress_segment(path: Path, *, sync_first: bool = False) -> Path:
    """Gzip a rotated segment next to itself, then remove the plain file."""
    target = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with open(path, "rb") as src, open(tmp, "wb") as raw:
        if sync_first:
            os.fdatasync(src.fileno())
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=ARCHIVE_GZIP_LEVEL) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())  # the plain segment is removed next: the copy must be on disk
    os.replace(tmp, target)
    os.unlink(path)
    return target


def _last_archived_seq(root: Path, session_id: str,
                       known: tuple[int, int] | None = None) -> int:
    """The last seq in the session's newest archive segment; `known` is (first seq, last
    seq) of a segment this process archived itself, taken as is when it is the newest."""
    segments = archive_segments(root, session_id).get(session_id, [])
    if segments and known is not None and segments[-1].first_seq == known[0]:
        return known[1]
    for segment in reversed(segments):
        try:
            seq = scan_file(segment.path).last_seq
            if seq:
                return seq
        except FileNotFoundError:
            # Compressed under our feet: the .gz is complete now; look again.
            return _last_archived_seq(root, session_id, known)
    return 0


def compress_leftovers(root: Path) -> list[Path]:
    """Gzip archive segments a crashed writer left uncompressed."""
    done = []
    folder = root / ARCHIVE_DIR
    if not folder.is_dir():
        return done
    for entry in sorted(folder.iterdir()):
        if entry.name.endswith(".gz.tmp"):
            entry.unlink(missing_ok=True)
    for entry in sorted(folder.iterdir()):
        if entry.name.endswith(".jsonl") and split_archive_name(entry.name):
            done.append(compress_segment(entry))
    return done


_LIVE_JOURNALS: weakref.WeakSet[Journal] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for journal in list(_LIVE_JOURNALS):
        journal._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
