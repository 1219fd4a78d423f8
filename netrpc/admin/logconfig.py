"""libvirt-style logging configuration (``log_level``, ``log_outputs``, ``log_filters``) on
top of Python's :mod:`logging`.

libvirt describes logging with three settings, which the admin program reads and changes at
run time (``virt-admin daemon-log-outputs`` / ``daemon-log-filters``):

* a default **priority**: 1 debug, 2 info, 3 warning, 4 error;
* **outputs**, ``PRIORITY:DESTINATION`` separated by spaces: ``1:stderr``,
  ``3:file:/var/log/d.log``, ``2:syslog:IDENT``, ``1:journald``;
* **filters**, ``PRIORITY:MATCH`` separated by spaces.

Mapping onto Python logging:

* Python levels map to priorities: DEBUG (and below) is 1, INFO 2, WARNING 3, ERROR and
  CRITICAL 4.
* A filter's MATCH is a glob matched against the **logger name** (``netrpc.server``,
  ``netrpc.admin``, a daemon's own loggers).  As libvirt does, it is wrapped in ``*`` on both
  sides, so ``1:netrpc.server`` matches every logger whose name contains ``netrpc.server``
  and is reported back as ``1:*netrpc.server*``; a leading ``+`` (an obsolete libvirt flag)
  is dropped.  The first matching filter sets the minimum priority of a record; records that
  match no filter use the default priority.
* Each output is a :class:`logging.Handler` attached to the managed logger (the root logger
  by default) that also drops records below its own priority.  ``stderr`` is a stream
  handler, ``file:PATH`` appends to PATH (relative paths are made absolute), ``syslog:IDENT``
  sends to the local syslog socket with that identifier, ``journald`` sends native journal
  datagrams to ``/run/systemd/journal/socket``.

Handlers installed by other code are left alone.
"""

from __future__ import annotations

import fnmatch
import logging
import logging.handlers
import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import TextIO

__all__ = (
    "DEFAULT_PRIORITY",
    "LogConfig",
    "LogFilter",
    "LogOutput",
    "LoggingError",
    "level_to_priority",
    "parse_filters",
    "parse_outputs",
    "priority_to_level",
)

#: libvirt's default log priority (warning)
DEFAULT_PRIORITY = 3

_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_DESTINATIONS = ("stderr", "file", "syslog", "journald")
JOURNAL_SOCKET = "/run/systemd/journal/socket"


class LoggingError(ValueError):
    """A logging setting could not be parsed or applied.

    :ivar message: the text libvirt uses for the same mistake.
    :ivar invalid_arg: True for syntax errors (libvirt's ``VIR_ERR_INVALID_ARG``), False when
        a destination could not be opened.
    :ivar errno: the system error number when a destination could not be opened.
    """

    def __init__(self, message: str, *, invalid_arg: bool = True, errno: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.invalid_arg = invalid_arg
        self.errno = errno


def priority_to_level(priority: int) -> int:
    """The Python logging level of a libvirt priority (1..4)."""
    return _LEVELS[priority]


def level_to_priority(level: int) -> int:
    """The libvirt priority (1..4) of a Python logging level."""
    if level < logging.INFO:
        return 1
    if level < logging.WARNING:
        return 2
    if level < logging.ERROR:
        return 3
    return 4


def _parse_priority(text: str) -> int | None:
    if len(text) == 1 and text in "1234":
        return int(text)
    return None


@dataclass(frozen=True, slots=True)
class LogOutput:
    """One output: ``priority``, ``dest`` (stderr, file, syslog, journald) and ``name``
    (the file path or syslog identifier)."""

    priority: int
    dest: str
    name: str | None = None

    def __str__(self) -> str:
        if self.name is None:
            return f"{self.priority}:{self.dest}"
        return f"{self.priority}:{self.dest}:{self.name}"


@dataclass(frozen=True, slots=True)
class LogFilter:
    """One filter: records from loggers whose name matches the glob ``match`` need at least
    ``priority``."""

    priority: int
    match: str

    def matches(self, logger_name: str) -> bool:
        """True when *logger_name* matches the glob."""
        return fnmatch.fnmatchcase(logger_name, self.match)

    def __str__(self) -> str:
        return f"{self.priority}:{self.match}"


def parse_outputs(text: str | None, *, cwd: str | None = None) -> list[LogOutput]:
    """Parse a libvirt output list (``"1:stderr 3:file:/x.log"``).

    A later output to the same destination replaces an earlier one.

    :raises LoggingError: with libvirt's message for the first bad output.
    """
    outputs: list[LogOutput] = []
    for item in (text or "").split():
        parts = item.split(":", 2)
        if len(parts) < 2:
            raise LoggingError(f"Malformed format for log output '{item}'")
        priority = _parse_priority(parts[0])
        if priority is None:
            raise LoggingError(f"Invalid log priority '{parts[0]}' for log output '{item}'")
        dest = parts[1]
        if dest not in _DESTINATIONS:
            raise LoggingError(f"Invalid log destination '{dest}' for log output '{item}'")
        name: str | None = parts[2] if len(parts) == 3 else None
        needs_name = dest in ("file", "syslog")
        if needs_name != (name is not None) or (dest == "file" and not name):
            raise LoggingError(
                f"Log output '{item}' does not meet the format requirements for "
                f"destination type '{dest}'"
            )
        if dest == "file" and name is not None and not os.path.isabs(name):
            name = os.path.join(cwd or os.getcwd(), name)
        output = LogOutput(priority, dest, name)
        outputs = [o for o in outputs if (o.dest, o.name) != (dest, name)]
        outputs.append(output)
    return outputs


def parse_filters(text: str | None) -> list[LogFilter]:
    """Parse a libvirt filter list (``"1:netrpc.server 3:*"``).

    :raises LoggingError: with libvirt's message for the first bad filter.
    """
    filters: list[LogFilter] = []
    for item in (text or "").split():
        parts = item.split(":")
        if len(parts) < 2:
            raise LoggingError(f"Malformed format for filter '{item}'")
        priority = _parse_priority(parts[0])
        if priority is None:
            raise LoggingError(f"Invalid priority '{parts[0]}' for filter '{item}'")
        match = parts[1]
        if match.startswith("+"):
            match = match[1:]
        if not match:
            raise LoggingError(f"Invalid match string '{match}'")
        filters.append(LogFilter(priority, f"*{match}*"))
    return filters


class _JournalHandler(logging.Handler):
    """Native journald protocol over the journal's datagram socket."""

    def __init__(self, identifier: str) -> None:
        super().__init__()
        self.identifier = identifier
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {
                "MESSAGE": self.format(record),
                "PRIORITY": str(_syslog_priority(record.levelno)),
                "SYSLOG_IDENTIFIER": self.identifier,
                "LOGGER": record.name,
            }
            data = bytearray()
            for key, value in fields.items():
                raw = value.encode("utf-8", "replace")
                if b"\n" in raw:
                    data += key.encode() + b"\n" + len(raw).to_bytes(8, "little") + raw + b"\n"
                else:
                    data += key.encode() + b"=" + raw + b"\n"
            self.sock.sendto(bytes(data), JOURNAL_SOCKET)
        except OSError:
            pass
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def _syslog_priority(level: int) -> int:
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    if level >= logging.INFO:
        return 6
    return 7


class _Gate(logging.Filter):
    """Passes records that clear both the filters (or default priority) and the output's
    own priority."""

    def __init__(self, config: LogConfig, output_priority: int) -> None:
        super().__init__()
        self.config = config
        self.output_priority = output_priority

    def filter(self, record: logging.LogRecord) -> bool:
        priority = level_to_priority(record.levelno)
        return priority >= self.output_priority and priority >= self.config.threshold(record.name)


@dataclass(eq=False)
class LogConfig:
    """The live logging configuration of a daemon.

    :param logger: name of the logger the outputs attach to ("" is the root logger).
    :param identifier: program name for syslog and journald.
    :param stderr: stream of the ``stderr`` destination (``sys.stderr`` at emit time if None).
    :param format: :class:`logging.Formatter` format of every output.

    Until :meth:`configure` or a ``set_*`` method is called nothing is installed and the
    outputs are reported as empty.
    """

    logger: str = ""
    identifier: str = field(default_factory=lambda: os.path.basename(sys.argv[0]) or "netrpc")
    stderr: TextIO | None = None
    format: str = "%(asctime)s: %(thread)d: %(levelname)s : %(name)s : %(message)s"
    priority: int = DEFAULT_PRIORITY
    outputs: list[LogOutput] = field(default_factory=list)
    filters: list[LogFilter] = field(default_factory=list)
    _handlers: list[logging.Handler] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def default(cls) -> LogConfig:
        """The process-wide configuration (root logger), created on first use."""
        if not _DEFAULT:
            _DEFAULT.append(cls())
        return _DEFAULT[0]

    # ------------------------------------------------------------------ queries

    def threshold(self, logger_name: str) -> int:
        """Minimum priority of records from *logger_name*."""
        for flt in self.filters:
            if flt.matches(logger_name):
                return flt.priority
        return self.priority

    def outputs_string(self) -> str:
        """Outputs as libvirt reports them (``"1:stderr 3:file:/x.log"``)."""
        return " ".join(str(o) for o in self.outputs)

    def filters_string(self) -> str:
        """Filters as libvirt reports them: each followed by a space (``"1:*rpc* "``)."""
        return "".join(f"{f} " for f in self.filters)

    def default_outputs(self) -> list[LogOutput]:
        """What an empty output setting means: the default priority to stderr."""
        return [LogOutput(self.priority, "stderr")]

    # ------------------------------------------------------------------ changes

    def configure(
        self,
        *,
        priority: int | None = None,
        outputs: str | None = None,
        filters: str | None = None,
    ) -> None:
        """Set all three settings at once (start-up and SIGHUP reload).

        An empty or None *outputs* means the default output.

        :raises LoggingError: when a setting is invalid (nothing changes).
        """
        if priority is not None and priority not in _LEVELS:
            raise LoggingError(f"Invalid log priority '{priority}'")
        new_filters = parse_filters(filters)
        new_outputs = parse_outputs(outputs)
        with self._lock:
            if priority is not None:
                self.priority = priority
            self.filters = new_filters
            self._install(new_outputs or self.default_outputs())

    def set_outputs(self, text: str | None) -> None:
        """Replace the outputs (admin ``CONNECT_SET_LOGGING_OUTPUTS``); empty means default.

        :raises LoggingError: when the text is invalid or a file cannot be opened.
        """
        outputs = parse_outputs(text)
        with self._lock:
            self._install(outputs or self.default_outputs())

    def set_filters(self, text: str | None) -> None:
        """Replace the filters (admin ``CONNECT_SET_LOGGING_FILTERS``); empty removes all.

        :raises LoggingError: when the text is invalid.
        """
        filters = parse_filters(text)
        with self._lock:
            self.filters = filters
            self._update_level()

    def reset(self) -> None:
        """Remove every handler this configuration installed."""
        with self._lock:
            logger = logging.getLogger(self.logger)
            for handler in self._handlers:
                logger.removeHandler(handler)
                handler.close()
            self._handlers = []
            self.outputs = []

    # ------------------------------------------------------------------ internals

    def _make_handler(self, output: LogOutput) -> logging.Handler:
        handler: logging.Handler
        if output.dest == "stderr":
            handler = logging.StreamHandler(self.stderr or sys.stderr)
        elif output.dest == "file":
            assert output.name is not None
            try:
                handler = logging.FileHandler(output.name, encoding="utf-8")
            except OSError as exc:
                raise LoggingError(
                    f"failed to open {output.name}: {exc.strerror}",
                    invalid_arg=False,
                    errno=exc.errno or -1,
                ) from None
        elif output.dest == "syslog":
            address: str | tuple[str, int] = (
                "/dev/log"
                if os.path.exists("/dev/log")
                else (
                    "localhost",
                    logging.handlers.SYSLOG_UDP_PORT,
                )
            )
            handler = logging.handlers.SysLogHandler(address=address)
            handler.ident = f"{output.name or self.identifier}: "
        else:
            handler = _JournalHandler(self.identifier)
        handler.setFormatter(logging.Formatter(self.format))
        handler.addFilter(_Gate(self, output.priority))
        return handler

    def _install(self, outputs: list[LogOutput]) -> None:
        handlers = []
        try:
            for output in outputs:
                handlers.append(self._make_handler(output))
        except BaseException:
            for handler in handlers:
                handler.close()
            raise
        logger = logging.getLogger(self.logger)
        for handler in self._handlers:
            logger.removeHandler(handler)
            handler.close()
        for handler in handlers:
            logger.addHandler(handler)
        self._handlers = handlers
        self.outputs = list(outputs)
        self._update_level()

    def _update_level(self) -> None:
        if not self._handlers:
            return
        lowest = min([self.priority, *(f.priority for f in self.filters)])
        logging.getLogger(self.logger).setLevel(priority_to_level(lowest))


_DEFAULT: list[LogConfig] = []
