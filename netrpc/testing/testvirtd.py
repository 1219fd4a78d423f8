"""testvirtd in a child process, for testing libvirt client code.

::

    with TestVirtd() as tv:
        conn = libvirt.open(tv.uri)          # test+unix:///default?socket=...
        tv.fault("DOMAIN_GET_INFO:error=1/10/injected failure,times=1")
        ...
        tv.reset()                           # fresh test:///default state, no faults

One daemon serves a unix socket (read-write and read-only), TCP and TLS on free loopback
ports (with a throwaway PKI in :attr:`TestVirtd.pki_dir`) and an admin socket; between
tests :meth:`TestVirtd.reset` gives it fresh state in about a millisecond, so a test suite
starts it once.  The pytest plugin (:mod:`netrpc.testing.pytest_plugin`) wraps it in the
``testvirtd`` fixture.

Faults are steered over the daemon's admin socket with netrpc's fault control program
(:mod:`netrpc.io.server.faults`), so they work from any process that knows the socket.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..admin.faults import CountRet, FaultControlProgram, RestartArgs, RuleArgs, RuleListRet
from ..core.errors import ConnectionLostError, ErrorCode, RPCError
from ..io.server.faults import FaultRuleError
from ..security.certs import make_ca, make_client_cert, make_server_cert, write_pki
from ._sync import SyncClient

__all__ = ("DAEMON_MODULE", "TestVirtd", "TestVirtdError")



def _daemon_module() -> str:
    # A source checkout has the daemon as daemons.testvirtd; an installed netrpc ships it as
    # the top-level package testvirtd.
    for name in ("daemons.testvirtd", "testvirtd"):
        with contextlib.suppress(ImportError, ValueError):
            if importlib.util.find_spec(name) is not None:
                return name
    return "testvirtd"


#: the module ``python -m`` runs to start the daemon
DAEMON_MODULE = _daemon_module()

_PORT = re.compile(r"\+(tcp|tls)://127\.0\.0\.1:(\d+)/")


class TestVirtdError(RuntimeError):
    """The daemon could not be started or stopped working; the message includes its log."""

    __test__ = False


class TestVirtd:
    """A testvirtd daemon in a child process (a context manager).

    :param args: more ``testvirtd`` command line arguments (e.g. ``["--fault", RULE]``).
    :param faults: fault rules active from the start (``--fault``).
    :param tls: also listen on TLS (with a throwaway PKI, see :attr:`pki_dir`).
    :param keep_state: keep ``test:///default``'s state when its last connection closes
        (``--keep-state``), so :meth:`disconnect_all` and :meth:`restart` act on one state;
        False behaves as libvirtd's test driver, which discards it then.
    :param python: the interpreter that runs the daemon (default: this one).
    :param startup_timeout: seconds to wait until the daemon is ready.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(
        self,
        *,
        args: Sequence[str] = (),
        faults: Sequence[str] = (),
        tls: bool = True,
        keep_state: bool = True,
        python: str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.args = list(args)
        self.initial_faults = list(faults)
        self.tls = tls
        self.keep_state = keep_state
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self.workdir: Path | None = None
        self.tcp_port = 0
        self.tls_port = 0
        self._proc: subprocess.Popen[str] | None = None
        self._stdout: list[str] = []
        self._reader: threading.Thread | None = None
        self._log: IO[str] | None = None
        self._control: SyncClient | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> TestVirtd:
        """Start the daemon and wait until it serves.

        :raises TestVirtdError: with the daemon's output when it does not come up.
        """
        if self.running:
            return self
        self.stop()
        self.workdir = Path(tempfile.mkdtemp(prefix="testvirtd-", dir="/tmp"))
        if self.tls:
            self._make_pki(self.workdir / "pki")
        argv = [
            self.python, "-m", DAEMON_MODULE,
            "--listen", f"unix://{self.socket}",
            "--listen", f"unix-ro://{self.ro_socket}",
            "--listen", "tcp://127.0.0.1:0",
            "--admin-socket", self.admin_socket,
            "--qmp-dir", str(self.workdir / "qmp"),
        ]  # fmt: skip
        if self.tls:
            argv += ["--listen", "tls://127.0.0.1:0", "--pki", str(self.pki_dir)]
        if self.keep_state:
            argv.append("--keep-state")
        for rule in self.initial_faults:
            argv += ["--fault", rule]
        argv += self.args
        self._log = open(self.workdir / "testvirtd.log", "w+")
        self._stdout = []
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=_child_env(),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        lines: list[str] = []
        ready = threading.Event()
        done = threading.Event()  # ready, or the output ended

        def read() -> None:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    (self._stdout if ready.is_set() else lines).append(line)
                    if line.strip() == "ready":
                        ready.set()
                        done.set()
            finally:
                done.set()

        self._reader = threading.Thread(target=read, name="testvirtd-stdout", daemon=True)
        self._reader.start()
        done.wait(self.startup_timeout)
        if not ready.is_set() or proc.poll() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)  # let it finish saying why
            raise TestVirtdError(
                f"testvirtd did not start ({_status(proc)}):\n" + "".join(lines) + self.log()
            )
        for line in lines:
            for kind, port in _PORT.findall(line):
                if kind == "tcp":
                    self.tcp_port = int(port)
                else:
                    self.tls_port = int(port)
        self._stdout = lines

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the daemon (SIGTERM, then SIGKILL after *timeout*) and remove its files.

        Returns its exit status (None if it was not running).
        """
        if self._control is not None:
            self._control.close()
            self._control = None
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
            else:
                code = proc.returncode
            if proc.stdout is not None:
                proc.stdout.close()
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        return code

    def __enter__(self) -> TestVirtd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the daemon process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        if self._proc is None:
            raise TestVirtdError("testvirtd is not running")
        return self._proc.pid

    def log(self) -> str:
        """What the daemon logged so far (warnings and errors, every fault rule)."""
        if self._log is None:
            return ""
        self._log.flush()
        with open(self._log.name) as fh:
            return fh.read()

    # ------------------------------------------------------------------ where it listens

    def _path(self, name: str) -> str:
        if self.workdir is None:
            raise TestVirtdError("testvirtd is not running")
        return str(self.workdir / name)

    @property
    def socket(self) -> str:
        """The read-write unix socket."""
        return self._path("libvirt-sock")

    @property
    def ro_socket(self) -> str:
        """The read-only unix socket."""
        return self._path("libvirt-sock-ro")

    @property
    def admin_socket(self) -> str:
        """The admin socket (virt-admin, and the fault control program)."""
        return self._path("libvirt-admin-sock")

    @property
    def pki_dir(self) -> str:
        """A libvirt ``pkipath`` directory: ``cacert.pem``, ``clientcert.pem`` and
        ``clientkey.pem`` for clients (and the server's own files)."""
        return self._path("pki")

    @property
    def uri(self) -> str:
        """``test+unix:///default?socket=...``: what any libvirt client opens."""
        return f"test+unix:///default?socket={self.socket}"

    @property
    def ro_uri(self) -> str:
        """The same through the read-only socket."""
        return f"test+unix:///default?socket={self.ro_socket}"

    @property
    def tcp_uri(self) -> str:
        """``test+tcp://127.0.0.1:PORT/default``."""
        return f"test+tcp://127.0.0.1:{self.tcp_port}/default"

    @property
    def tls_uri(self) -> str:
        """``test+tls://127.0.0.1:PORT/default?pkipath=...`` (the certificates of
        :attr:`pki_dir`; the server certificate names 127.0.0.1 and localhost)."""
        if not self.tls:
            raise TestVirtdError("this testvirtd was started without TLS")
        return f"test+tls://127.0.0.1:{self.tls_port}/default?pkipath={self.pki_dir}"

    @property
    def qemu_uri(self) -> str:
        """``qemu+unix:///system?socket=...``: a QEMU driver's view of the same state."""
        return f"qemu+unix:///system?socket={self.socket}"

    @property
    def admin_uri(self) -> str:
        """``libvirtd:///system?socket=...`` for virt-admin."""
        return f"libvirtd:///system?socket={self.admin_socket}"

    def node_uri(self, node_xml: str | os.PathLike[str]) -> str:
        """The URI that opens a private driver instance loaded from a test-driver node
        file (``test:///ABS/PATH.xml``, libvirt's custom node XML)."""
        path = os.path.abspath(os.fspath(node_xml))
        return f"test+unix://{path}?socket={self.socket}"

    # ------------------------------------------------------------------ control

    def _call(self, name: str, args: object = None) -> object:
        for attempt in (1, 2):
            if self._control is None or self._control.closed:
                if not self.running:
                    raise TestVirtdError(f"testvirtd is not running:\n{self.log()}")
                self._control = SyncClient(self.admin_socket)
            try:
                return self._control.call_procedure(FaultControlProgram, name, args)
            except ConnectionLostError:
                self._control = None
                if attempt == 2:
                    raise TestVirtdError(
                        f"lost the control connection to testvirtd:\n{self.log()}"
                    ) from None
        raise AssertionError("unreachable")

    def reset(self) -> None:
        """Fresh ``test:///default`` state: drops every client connection, removes every
        fault rule, restores the default domain, network and pool.  Starts the daemon
        again if it is not running."""
        if not self.running:
            self.start()
        self._call("reset")

    def fault(self, rule: str) -> str:
        """Add a fault rule (see :mod:`~netrpc.io.server.faults`, ``testvirtd --help``); returns it
        in canonical form.

        :raises FaultRuleError: for a rule the daemon cannot parse.
        """
        try:
            ret = self._call("add", RuleArgs(rule))
        except RPCError as exc:
            if exc.code == ErrorCode.INVALID_ARG:
                text = exc.message or ""
                raise FaultRuleError(text.removeprefix("invalid argument: ")) from None
            raise
        assert isinstance(ret, RuleArgs)
        return ret.rule

    def clear_faults(self) -> int:
        """Remove every fault rule (hung calls then run); the daemon behaves exactly like
        libvirtd's test driver again.  Returns how many rules there were."""
        ret = self._call("clear")
        assert isinstance(ret, CountRet)
        return ret.count

    @property
    def faults(self) -> list[str]:
        """The active fault rules."""
        ret = self._call("list_rules")
        assert isinstance(ret, RuleListRet)
        return list(ret.rules)

    def disconnect_all(self) -> int:
        """Close every client connection at once (as a daemon crash would); returns how
        many there were."""
        ret = self._call("disconnect_all")
        assert isinstance(ret, CountRet)
        return ret.count

    def restart(self, downtime: float = 0.0) -> int:
        """Act out a daemon restart that keeps its state: every connection is closed and
        new ones are refused for *downtime* seconds."""
        ret = self._call("restart", RestartArgs(round(downtime * 1000)))
        assert isinstance(ret, CountRet)
        return ret.count

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _make_pki(directory: Path) -> None:
        ca = make_ca("CN=testvirtd throwaway CA")
        server = make_server_cert(ca, ["127.0.0.1", "localhost"])
        client = make_client_cert(ca, "testvirtd-client")
        write_pki(directory, ca=ca, server=server, clients={"testvirtd-client": client},
                  write_ca_key=False)

    def __repr__(self) -> str:
        state = f"pid {self._proc.pid}" if self.running and self._proc else "stopped"
        return f"<TestVirtd {state} {self.workdir}>"


def _child_env() -> dict[str, str]:
    """The environment of the daemon: this one, with the directory that holds the daemon
    package on PYTHONPATH (it may come from a source checkout rather than site-packages)."""
    env = dict(os.environ)
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec(DAEMON_MODULE.split(".")[0])
        if spec is not None and spec.submodule_search_locations:
            root = str(Path(next(iter(spec.submodule_search_locations))).parent)
            parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
            if root not in parts:
                env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return env


def _die_with_parent() -> None:
    # The daemon must not outlive a test run that was killed (PR_SET_PDEATHSIG).
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _status(proc: subprocess.Popen[str]) -> str:
    code = proc.poll()
    return "still starting" if code is None else f"exit status {code}"
