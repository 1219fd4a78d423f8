#!/usr/bin/env python3
"""Start and stop the servers under test, each as its own process in a private temp dir.

Every server listens on a unix socket in its temp dir and on a free 127.0.0.1 TCP port, and
is ready once a real AUTH_LIST call gets its reply on both.  Known servers:

* ``libvirtd``: the real libvirtd with only its built-in test driver (own config, own pid
  file and socket dir, ``LIBVIRT_DRIVER_DIR`` pointing at an empty dir, ``--listen``,
  auth none, TCP on the free port), as in the project's performance anchors;
* ``echo``: bench/echo_server.py, the minimal netrpc server (asyncio backend);
  ``echo-trio``: the same on the trio backend;
* ``testvirtd``: ``python -m daemons.testvirtd`` (when that module exists);
* ``raw`` / ``core``: bench/raw_asyncio_server.py (plain asyncio Protocol, hand-written
  replies / netrpc's sans-IO core without the anyio shell).

    python3 bench/servers.py libvirtd echo --hold 300   # print the addresses, keep them up
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
LIBVIRTD = shutil.which("libvirtd") or (
    "/usr/sbin/libvirtd" if os.access("/usr/sbin/libvirtd", os.X_OK) else None
)
TESTVIRTD_MAIN = os.path.join(ROOT, "daemons", "testvirtd", "__main__.py")

ALL = ("libvirtd", "echo", "echo-trio", "testvirtd", "raw", "core")
#: servers built on netrpc (compared against libvirtd)
NETRPC = ("echo", "echo-trio", "testvirtd", "core")

_FRAME = struct.Struct(">IIIiiIi")


def availability(name: str) -> str | None:
    """None when *name* can run here, else why not."""
    if name == "libvirtd" and LIBVIRTD is None:
        return "libvirtd is not installed"
    if name == "testvirtd" and not os.path.exists(TESTVIRTD_MAIN):
        return "daemons/testvirtd/__main__.py does not exist (yet)"
    if name not in ALL:
        return f"unknown server {name!r} (known: {', '.join(ALL)})"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(family: int, address: object, timeout: float = 1.0) -> bool:
    """Connect and do one AUTH_LIST; True when a well-formed OK reply comes back."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(address)
            s.sendall(_FRAME.pack(28, 0x20008086, 1, 66, 0, 1, 0))
            data = b""
            while len(data) < 28:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
            _, prog, _, proc, mtype, serial, status = _FRAME.unpack_from(data)
            return (prog, proc, mtype, serial, status) == (0x20008086, 66, 1, 1, 0)
    except OSError:
        return False


@dataclass
class ServerProcess:
    """One running server under test."""

    name: str
    workdir: str
    unix_path: str
    tcp_port: int
    argv: list[str]
    env: dict[str, str]
    log_path: str
    pid_file: str | None = None
    #: TLS port (when made with a PKI directory) and admin socket (libvirtd, testvirtd)
    tls_port: int | None = None
    admin_path: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def tcp(self) -> str:
        return f"127.0.0.1:{self.tcp_port}"

    def target(self, transport: str) -> list[str]:
        """loadgen arguments that point at this server over *transport*."""
        return ["--unix", self.unix_path] if transport == "unix" else ["--tcp", self.tcp]

    def start(self, timeout: float = 20.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        self.started_at = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Poll both listeners with AUTH_LIST until they answer (bounded by *timeout*)."""
        assert self.proc is not None
        deadline = self.started_at + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with status {self.proc.returncode}:\n{self.log_tail()}"
                )
            if probe(socket.AF_UNIX, self.unix_path) and probe(
                socket.AF_INET, ("127.0.0.1", self.tcp_port)
            ):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)
        if self.pid_file:
            with contextlib.suppress(OSError, ValueError):
                with open(self.pid_file) as f:
                    recorded = int(f.read().strip())
                if recorded != self.proc.pid:
                    raise RuntimeError(f"{self.name}: pid file says {recorded}, started {self.pid}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after *timeout*; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int | None:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def describe(self) -> str:
        return f"{self.name}: pid {self.pid}, unix {self.unix_path}, tcp {self.tcp}"


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDEVMODE", None)
    env.pop("PYTHONASYNCIODEBUG", None)
    return env


def make(
    name: str,
    workdir: str,
    *,
    profile: str | None = None,
    pki: str | None = None,
    nofile: int | None = None,
    testvirtd_args: Sequence[str] = (),
) -> ServerProcess:
    """Prepare (not start) server *name* in *workdir*.

    :param pki: a PKI directory (cacert.pem, servercert.pem, serverkey.pem, e.g. from
        ``netrpc-certs``): libvirtd and testvirtd also listen for TLS on a free port.
    :param nofile: run the server under this descriptor limit (``prlimit --nofile``).
    :param testvirtd_args: more command-line options for testvirtd (relative paths are
        relative to *workdir*, its working directory).
    """
    server = _make(name, workdir, profile=profile, pki=pki)
    if name == "testvirtd":
        server.argv += list(testvirtd_args)
    if nofile is not None:
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            raise RuntimeError("prlimit (util-linux) is not installed")
        server.argv = [prlimit, f"--nofile={nofile}:{nofile}", "--", *server.argv]
    return server


def _make(name: str, workdir: str, *, profile: str | None, pki: str | None) -> ServerProcess:
    reason = availability(name)
    if reason:
        raise RuntimeError(reason)
    port = free_port()
    tls_port = free_port() if pki is not None and name in ("libvirtd", "testvirtd") else None
    log_path = os.path.join(workdir, f"{name}.log")
    if name == "libvirtd":
        assert LIBVIRTD is not None
        sock_dir = os.path.join(workdir, "sock")
        empty = os.path.join(workdir, "empty")
        os.makedirs(sock_dir)
        os.makedirs(empty)
        conf = os.path.join(workdir, "libvirtd.conf")
        with open(conf, "w") as f:
            if pki is not None:
                f.write(
                    "listen_tls = 1\n"
                    f'tls_port = "{tls_port}"\n'
                    'auth_tls = "none"\n'
                    f'ca_file = "{pki}/cacert.pem"\n'
                    f'cert_file = "{pki}/servercert.pem"\n'
                    f'key_file = "{pki}/serverkey.pem"\n'
                )
            else:
                f.write("listen_tls = 0\n")
            f.write(
                "listen_tcp = 1\n"
                'listen_addr = "127.0.0.1"\n'
                f'tcp_port = "{port}"\n'
                'auth_tcp = "none"\n'
                'auth_unix_rw = "none"\n'
                'auth_unix_ro = "none"\n'
                f'unix_sock_dir = "{sock_dir}"\n'
                "log_level = 3\n"
                f'log_outputs = "3:file:{os.path.join(workdir, "libvirtd-internal.log")}"\n'
            )
        pid_file = os.path.join(workdir, "libvirtd.pid")
        env = dict(os.environ, LIBVIRT_DRIVER_DIR=empty)
        return ServerProcess(
            name,
            workdir,
            os.path.join(sock_dir, "libvirt-sock"),
            port,
            [LIBVIRTD, "--listen", "-f", conf, "--pid-file", pid_file],
            env,
            log_path,
            pid_file=pid_file,
            tls_port=tls_port,
            admin_path=os.path.join(sock_dir, "libvirt-admin-sock"),
        )
    unix_path = os.path.join(workdir, f"{name}.sock")
    tcp = f"127.0.0.1:{port}"
    py = [sys.executable]
    if name in ("echo", "echo-trio"):
        argv = [
            *py,
            os.path.join(BENCH, "echo_server.py"),
            "--unix",
            unix_path,
            "--tcp",
            tcp,
            "--backend",
            "trio" if name == "echo-trio" else "asyncio",
        ]
        if profile:
            argv += ["--profile", profile]
    elif name in ("raw", "core"):
        argv = [
            *py,
            os.path.join(BENCH, "raw_asyncio_server.py"),
            "--mode",
            name,
            "--unix",
            unix_path,
            "--tcp",
            tcp,
        ]
    else:  # testvirtd
        argv = [
            *py,
            "-m",
            "daemons.testvirtd",
            "--listen",
            f"unix://{unix_path}",
            "--listen",
            f"tcp://{tcp}",
        ]
        if tls_port is not None:
            argv += ["--listen", f"tls://127.0.0.1:{tls_port}", "--pki", str(pki)]
        return ServerProcess(
            name, workdir, unix_path, port, argv, _python_env(), log_path,
            tls_port=tls_port, admin_path=os.path.join(workdir, "libvirt-admin-sock"),
        )
    return ServerProcess(name, workdir, unix_path, port, argv, _python_env(), log_path)


@contextlib.contextmanager
def running(
    names: list[str],
    *,
    keep_dirs: bool = False,
    profile: str | None = None,
    timeout: float = 20.0,
    pki: str | None = None,
    nofile: int | None = None,
    testvirtd_args: Sequence[str] = (),
) -> Iterator[dict[str, ServerProcess]]:
    """Start every server in *names* (each in its own temp dir); stop them all on exit.

    *pki*, *nofile* and *testvirtd_args* are passed to :func:`make`.
    """
    started: dict[str, ServerProcess] = {}
    dirs: list[str] = []
    try:
        pending = []
        for name in names:
            workdir = tempfile.mkdtemp(prefix=f"netrpc-bench-{name}-")
            dirs.append(workdir)
            pending.append(
                make(
                    name,
                    workdir,
                    profile=profile if name.startswith("echo") else None,
                    pki=pki,
                    nofile=nofile,
                    testvirtd_args=testvirtd_args,
                )
            )
        # Launch all first, then wait: the daemons start up in parallel.
        for server in pending:
            server.launch()
            started[server.name] = server
        for server in pending:
            server.wait_ready(timeout)
        yield started
    finally:
        for server in started.values():
            server.stop()
        if not keep_dirs:
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("servers", nargs="+", help=", ".join(ALL))
    p.add_argument("--hold", type=float, default=300.0, help="seconds to keep them running")
    args = p.parse_args(argv)
    names = []
    for name in args.servers:
        reason = availability(name)
        if reason:
            print(f"skipping {name}: {reason}")
        else:
            names.append(name)
    with running(names, keep_dirs=False) as servers:
        for server in servers.values():
            print(server.describe(), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
