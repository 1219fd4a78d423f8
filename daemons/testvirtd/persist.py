"""``--state``: the hypervisor's state kept on disk without stalling the event loop.

A call that changes the state is answered only once the change is on disk ("answered OK
means on disk"), but no other call waits for that:

* :meth:`StateFile.changed` (called by the handler that made the change) only counts a new
  generation of the state;
* :func:`persist_calls` wraps every procedure that can change the state: after the handler
  ran, if it changed something, the call waits (its connection reads nothing more meanwhile,
  which keeps each connection's calls in order) in :meth:`StateFile.flush` for a save that
  covers its change, and fails with a system error naming the file if that save fails;
* saves are group commits: one save at a time, covering every change made before it
  started, so any number of calls in flight share one write.  The snapshot is taken on the
  event loop (consistent, and cheap: references to the domains' definitions, which are
  replaced, never changed in place); formatting and encoding (only what changed since the
  last save: each domain's entry is kept), write, fsync and rename run in a worker thread.

Changes no call waits for (QMP socket commands) are saved by :meth:`StateFile.run` in the
background, and what is still unsaved at shutdown by :meth:`StateFile.save_now`.

The file is replaced atomically through a temporary file ``.<name>.tmp-*`` next to it; such
files left by a crash are removed at start (:func:`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import anyio.to_thread

from netrpc import Call, Program

from .domains.model import domain_entry
from .domxml import ErrDomain, VirtError

if TYPE_CHECKING:
    from .hypervisor import Hypervisor

__all__ = ("StateFile", "persist_calls", "remove_leftovers", "write_atomically")

log = logging.getLogger("testvirtd.state")

#: VIR_ERR_SYSTEM_ERROR
_SYSTEM_ERROR: Final = 38
#: how often the background saver looks for changes no call waited for (seconds)
_BACKGROUND_INTERVAL: Final = 0.2


def _temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}.tmp-"


def write_atomically(path: str, data: bytes) -> None:
    """Replace *path* with *data*: a temporary file next to it, fsync, rename, fsync of the
    directory.  The temporary file is removed if anything fails."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_leftovers(path: str) -> list[str]:
    """Remove the temporary files a crash left next to the state file *path*; returns their
    names."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(path)
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if name.startswith(prefix):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
                removed.append(name)
    if removed:
        log.info("removed %d temporary state files left by a crash", len(removed))
    return removed


class _Encoder:
    """Encodes :meth:`Hypervisor.snapshot` documents, each domain's entry once: entries are
    kept by the identity of the snapshot's definitions (copies a snapshot takes again only
    for domains that may have changed) and the domain's other fields, so a save encodes
    only what changed since the last one."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], tuple[Any, Any, str]] = {}

    def encode(self, snapshot: dict[str, Any]) -> bytes:
        entries = self._entries
        fresh: dict[tuple[Any, ...], tuple[Any, Any, str]] = {}
        parts = []
        for defn, new_defn, fields in snapshot["domains"]:
            key = (id(defn), id(new_defn), fields)
            entry = entries.get(key)
            if entry is None or entry[0] is not defn or entry[1] is not new_defn:
                text = json.dumps(domain_entry(defn, new_defn, fields), sort_keys=True)
                entry = (defn, new_defn, text)  # the definitions stay alive with their key
            fresh[key] = entry
            parts.append(entry[2])
        self._entries = fresh  # entries of domains gone or changed are dropped
        rest = {k: v for k, v in snapshot.items() if k != "domains"}
        head = json.dumps(rest, indent=1, sort_keys=True)
        return (head[:-1] + ',\n "domains": [\n  ' + ",\n  ".join(parts) + "\n ]\n}").encode()


class StateFile:
    """Saves *hv* to *path*, off the event loop, in group commits.

    :param hv: the hypervisor whose state is saved.
    :param path: the state file.
    """

    def __init__(self, hv: Hypervisor, path: str) -> None:
        self.hv = hv
        self.path = path
        #: generation of the last change, and the last one known to be on disk
        self.generation = 0
        self.saved = 0
        self._saving: anyio.Event | None = None
        self._attempted = 0
        self._failure: VirtError | None = None
        self._encoder = _Encoder()

    def changed(self) -> None:
        """Note a change of the state (cheap; nothing is written here)."""
        self.generation += 1

    @property
    def dirty(self) -> bool:
        """Whether some change is not on disk yet."""
        return self.saved < self.generation

    def _error(self, exc: BaseException) -> VirtError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return VirtError.fmt(
            _SYSTEM_ERROR, ErrDomain.NONE, "%s", f"cannot write state file '{self.path}': {reason}"
        )

    async def flush(self, generation: int | None = None) -> None:
        """Return once the state up to *generation* (default: every change so far) is on
        disk.  :raises VirtError: when the save that covered it failed."""
        target = self.generation if generation is None else generation
        while self.saved < target:
            saving = self._saving
            if saving is None:
                await self._save_round()
                continue
            await saving.wait()
            if self.saved < target and self._failure is not None and self._attempted >= target:
                raise self._failure  # the save that covered this change failed

    async def _save_round(self) -> None:
        done = self._saving = anyio.Event()
        generation = self._attempted = self.generation
        try:
            try:
                snapshot = self.hv.snapshot()  # on the loop: consistent, and quick
                await anyio.to_thread.run_sync(self._write, snapshot)
            except Exception as exc:
                error = self._error(exc)
                self._failure = error
                log.error("%s", error.message)
                raise error from None
            self._failure = None
            self.saved = max(self.saved, generation)
        finally:
            self._saving = None
            done.set()

    def _write(self, snapshot: dict[str, Any]) -> None:
        write_atomically(self.path, self._encoder.encode(snapshot))

    def save_now(self) -> None:
        """Save synchronously (start-up, shutdown): :raises VirtError: on failure."""
        generation = self.generation
        try:
            write_atomically(self.path, self._encoder.encode(self.hv.snapshot()))
        except Exception as exc:
            raise self._error(exc) from None
        self.saved = max(self.saved, generation)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Save changes no call waits for, until cancelled."""
        task_status.started()
        while True:
            await anyio.sleep(_BACKGROUND_INTERVAL)
            if self.dirty and self._saving is None:
                with contextlib.suppress(VirtError):  # logged; retried at the next change
                    await self.flush()


def persist_calls(program: Program, state: StateFile) -> None:
    """Make every procedure of *program* that may change the state answer only once its
    change is on disk (read-only procedures change nothing and are left alone)."""
    table = {}
    for number, proc in type(program).procedures.items():
        if proc.readonly or proc.is_async:
            table[number] = proc
        else:
            table[number] = dataclasses.replace(proc, handler=_persisting(proc.handler, state))
    program.procedures = table  # type: ignore[misc]  # this instance's table


def _persisting(handler: Callable[..., Any], state: StateFile) -> Callable[..., Any]:
    async def persisting(program: Any, call: Call, args: Any) -> Any:
        before = state.generation
        result = handler(program, call, args)
        if state.generation != before:
            await state.flush()
        return result

    persisting.__name__ = getattr(handler, "__name__", "persisting")
    persisting.__doc__ = handler.__doc__
    return persisting
