"""The durable half of kvstore: a SQLite file holding every key, value and revision.

:class:`Store` does blocking I/O and is meant for worker threads.  It is not thread-safe
by itself: :class:`~daemons.kvstore.program.KVStoreProgram` calls its write methods with
one lock held (see there why).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from typing import NamedTuple

__all__ = ("Change", "Store", "default_db_path")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key      TEXT PRIMARY KEY,
    value    BLOB NOT NULL,
    revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);
"""


def default_db_path() -> str:
    """``$XDG_DATA_HOME/kvstore/kvstore.sqlite3`` (``~/.local/share/...`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "kvstore", "kvstore.sqlite3")


class Change(NamedTuple):
    """One committed change; ``value`` is None for a delete."""

    key: str
    value: bytes | None
    revision: int
    created: bool = False


class Store:
    """A SQLite database of keys, values and a store-wide revision counter.

    :param path: the database file; its directory is created (mode 0700) if missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # One connection shared by the worker threads.  sqlite3 refuses by default to use a
        # connection from a thread other than its creator (check_same_thread=True), and the
        # handlers run on whichever pool thread is free, so we turn that check off and
        # serialize every use with a lock instead (the program's write lock; loading happens
        # before serving).  One connection per thread would not help: SQLite allows a single
        # writer at a time anyway, pool threads come and go so their connections would never
        # be closed deterministically, and concurrent writers would fail with "database is
        # locked" instead of waiting on a lock in order.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # WAL: a reader (the loading at start) never blocks on a writer, and a commit is one
        # append + fsync; synchronous=FULL keeps every committed change across a power cut.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.revision = self._db.execute(
            "SELECT value FROM meta WHERE name = 'revision'"
        ).fetchone()[0]

    def load(self) -> dict[str, tuple[bytes, int]]:
        """Every key with its value and revision."""
        rows = self._db.execute("SELECT key, value, revision FROM kv")
        return {key: (bytes(value), revision) for key, value, revision in rows}

    def put(self, key: str, value: bytes) -> Change:
        """Set *key* to *value* and commit (blocking)."""
        revision = self.revision + 1
        with self._transaction():
            created = self._db.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone() is None
            self._db.execute(
                "INSERT INTO kv (key, value, revision) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "revision = excluded.revision",
                (key, value, revision),
            )
            self._set_revision(revision)
        self.revision = revision
        return Change(key, value, revision, created)

    def delete(self, key: str) -> Change | None:
        """Remove *key* and commit (blocking); None when it does not exist."""
        revision = self.revision + 1
        with self._transaction():
            cursor = self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
            if cursor.rowcount == 0:
                return None
            self._set_revision(revision)
        self.revision = revision
        return Change(key, None, revision)

    def close(self) -> None:
        self._db.close()

    def _set_revision(self, revision: int) -> None:
        self._db.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
