"""Locate and drive the real libvirt peers: virsh, virt-admin, libvirt-python, go-libvirt, libvirtd.

Everything here runs the real client programs against a server described by an
:class:`Endpoints` object, so the same checks work against the real libvirtd and
against testvirtd.  Clients never see the caller's ``LIBVIRT_*`` variables and
always get a private ``HOME``, so nothing reads or writes the system's libvirt
configuration.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
GO_SOURCES = HERE / "go"
PYCLIENT = HERE / "pyclient.py"

SYSTEM_PYTHON = "/usr/bin/python3"
GOCODE = Path("/usr/share/gocode")
GO_LIBVIRT_SRC = GOCODE / "src/github.com/digitalocean/go-libvirt"
GO_QEMU_SRC = GOCODE / "src/github.com/digitalocean/go-qemu"
GO_PROGRAMS = ("golibvirt", "goqemu", "golibvirt_faults", "golibvirt_snapshots")
GO_BUILD_ROOT = Path(tempfile.gettempdir()) / "netrpc-interop-go"

LIBVIRTD_CANDIDATES = ("/usr/sbin/libvirtd", "libvirtd")

DEFAULT_TIMEOUT = 30.0


def in_ci() -> bool:
    """True when running under CI, where a missing peer is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


class PeerMissing(RuntimeError):
    """A real peer program or library is not installed or does not work."""


T = TypeVar("T")


def require_peer(find: Callable[[], T]) -> T:
    """Call a peer locator; when it raises PeerMissing, skip the test, or fail it under CI."""
    import pytest

    try:
        return find()
    except PeerMissing as exc:
        if in_ci():
            pytest.fail(f"interop peer missing under CI: {exc}", pytrace=False)
        pytest.skip(f"interop peer missing: {exc}")


# --------------------------------------------------------------------------------------------
# environment for client processes


_private_home: Path | None = None


def private_home() -> Path:
    """A per-process scratch HOME for client programs, removed at exit."""
    global _private_home
    if _private_home is None:
        home = Path(tempfile.mkdtemp(prefix="netrpc-peer-home-"))
        for sub in ("config", "cache", "data", "runtime"):
            (home / sub).mkdir(mode=0o700)
        _private_home = home
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    return _private_home


def client_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a client process: no LIBVIRT_* / VIRSH_* variables, private HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIBVIRT_", "VIRSH_", "VIRT_ADMIN_", "XDG_", "GO", "PYTHON"))
    }
    home = private_home()
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["XDG_CACHE_HOME"] = str(home / "cache")
    env["XDG_DATA_HOME"] = str(home / "data")
    env["XDG_RUNTIME_DIR"] = str(home / "runtime")
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    env.pop("LANGUAGE", None)
    if extra:
        env.update(extra)
    return env


def _run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=client_env(env),
        check=check,
    )


# --------------------------------------------------------------------------------------------
# locating peers


def find_program(name: str, *candidates: str) -> str:
    """Absolute path of an executable, or raise PeerMissing."""
    for cand in (*candidates, name):
        path = cand if os.path.isabs(cand) else shutil.which(cand)
        if path and os.access(path, os.X_OK):
            return path
    raise PeerMissing(f"{name} not found (install the Debian package that provides it)")


def find_virsh() -> str:
    return find_program("virsh", "/usr/bin/virsh")


def find_virt_admin() -> str:
    return find_program("virt-admin", "/usr/bin/virt-admin")


def find_libvirtd() -> str:
    return find_program("libvirtd", *LIBVIRTD_CANDIDATES)


def find_avahi_browse() -> str:
    return find_program("avahi-browse", "/usr/bin/avahi-browse")


def find_go() -> str:
    return find_program("go", "/usr/bin/go", "/usr/lib/go/bin/go")


@functools.cache
def find_system_python() -> str:
    """/usr/bin/python3, checked to import the libvirt module (python3-libvirt)."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        raise PeerMissing(f"{SYSTEM_PYTHON} not found")
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import libvirt, sys; sys.stdout.write(str(libvirt.getVersion()))"],
        capture_output=True,
        text=True,
        timeout=DEFAULT_TIMEOUT,
        env=client_env(),
    )
    if proc.returncode != 0:
        raise PeerMissing(f"{SYSTEM_PYTHON} cannot import libvirt: {proc.stderr.strip()}")
    return SYSTEM_PYTHON


def find_go_sources() -> tuple[Path, Path]:
    """(go-libvirt, go-qemu) source trees from the Debian -dev packages."""
    for path, pkg in (
        (GO_LIBVIRT_SRC / "libvirt.go", "golang-github-digitalocean-go-libvirt-dev"),
        (GO_QEMU_SRC / "qmp/qmp.go", "golang-github-digitalocean-go-qemu-dev"),
        (GOCODE / "src/golang.org/x/sys/unix", "golang-golang-x-sys-dev"),
    ):
        if not path.exists():
            raise PeerMissing(f"{path} missing (install {pkg})")
    return GO_LIBVIRT_SRC, GO_QEMU_SRC


def go_libvirt_dialers() -> dict[str, list[str]]:
    """Constructor functions of go-libvirt's socket/dialers package, by source file.

    The packaged snapshot has Local (unix), Remote (plain TCP) and AlreadyConnected;
    there is no TLS dialer in it.
    """
    out: dict[str, list[str]] = {}
    for src in sorted((GO_LIBVIRT_SRC / "socket/dialers").glob("*.go")):
        if src.name.endswith("_test.go"):
            continue
        funcs = re.findall(r"^func (New\w*)\(", src.read_text(), flags=re.M)
        out[src.name] = funcs
    return out


def go_libvirt_has_tls_dialer() -> bool:
    names = [f for funcs in go_libvirt_dialers().values() for f in funcs]
    return any("tls" in n.lower() for n in names)


def go_qemu_has_run_with_file() -> bool:
    return "func (mon *SocketMonitor) RunWithFile(" in (GO_QEMU_SRC / "qmp/socket.go").read_text()


# --------------------------------------------------------------------------------------------
# server description shared by the real libvirtd and testvirtd


@dataclasses.dataclass
class Endpoints:
    """Where a libvirt-compatible server listens, and the URIs clients use to reach it."""

    name: str
    host: str = "127.0.0.1"
    tcp_port: int | None = None
    unix_path: str | None = None
    ro_path: str | None = None
    admin_path: str | None = None
    pid: int | None = None
    driver: str = "test"
    path: str = "/default"

    @property
    def uri_tcp(self) -> str:
        if self.tcp_port is None:
            raise ValueError(f"{self.name} has no TCP listener")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.driver}+tcp://{host}:{self.tcp_port}{self.path}"

    @property
    def uri_unix(self) -> str:
        if self.unix_path is None:
            raise ValueError(f"{self.name} has no unix socket")
        return f"{self.driver}+unix://{self.path}?socket={self.unix_path}"

    @property
    def uri_ro(self) -> str:
        if self.ro_path is None:
            raise ValueError(f"{self.name} has no read-only socket")
        return f"{self.driver}+unix://{self.path}?socket={self.ro_path}"

    @property
    def uri_admin(self) -> str:
        if self.admin_path is None:
            raise ValueError(f"{self.name} has no admin socket")
        return f"libvirtd:///system?socket={self.admin_path}"

    @property
    def driver_uri(self) -> str:
        """The URI a server-side CONNECT_OPEN sees, e.g. test:///default (go-libvirt sends this)."""
        return f"{self.driver}://{self.path}"

    def hold(
        self, uri: str | None = None, kind: str = "virsh"
    ) -> contextlib.AbstractContextManager[Holder]:
        """Keep a connection open so test-driver state survives between client runs."""
        return hold_connection(uri or self.uri_tcp, kind=kind)


# --------------------------------------------------------------------------------------------
# running clients


def run_virsh(
    uri: str,
    *args: str,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
    readonly: bool = False,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``virsh -c URI ARGS...`` with a clean environment."""
    argv = [require_peer(find_virsh), *(["-r"] if readonly else []), "-c", uri, *args]
    return _run(argv, timeout=timeout, input=input, env=env, check=check)


def run_virt_admin(
    uri: str,
    *args: str,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``virt-admin -c URI ARGS...`` with a clean environment."""
    argv = [require_peer(find_virt_admin), "-c", uri, *args]
    return _run(argv, timeout=timeout, input=input, env=env, check=check)


def run_system_python(
    *args: str,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run /usr/bin/python3 (the interpreter that has python3-libvirt)."""
    argv = [require_peer(find_system_python), *args]
    return _run(argv, timeout=timeout, input=input, env=env, check=check)


def run_pyclient(
    uri: str,
    *args: str,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run tests/interop/pyclient.py URI ARGS... under the system python."""
    return run_system_python(str(PYCLIENT), uri, *args, timeout=timeout, env=env)


def run_go(
    binary: str | Path,
    *args: str,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one of the built Go peer programs."""
    return _run([str(binary), *args], timeout=timeout, env=env)


def golibvirt_args(server: Endpoints, *, transport: str = "tcp") -> list[str]:
    """Flags that point the golibvirt program at ``server``."""
    if transport == "tcp":
        assert server.tcp_port is not None
        conn = ["-host", server.host, "-port", str(server.tcp_port)]
    elif transport == "unix":
        assert server.unix_path is not None
        conn = ["-unix", server.unix_path]
    else:
        raise ValueError(transport)
    return [*conn, "-uri", server.driver_uri]


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse the JSON-lines output of pyclient / the Go programs (non-JSON lines are ignored)."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def by_step(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index JSON-lines records by their "step" field (last one wins)."""
    return {r["step"]: r for r in records if "step" in r}


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """A readable dump of a finished process for assertion messages."""
    argv = proc.args if isinstance(proc.args, str) else " ".join(map(str, proc.args))
    return f"$ {argv}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


# --------------------------------------------------------------------------------------------
# holder connections (interop.md, surprise 12)


_HOLDER_PY = r"""
import sys, libvirt
conn = libvirt.open(sys.argv[1])
sys.stdout.write("ready %d\n" % conn.getLibVersion())
sys.stdout.flush()
sys.stdin.read()
conn.close()
"""


class Holder:
    """A client process that keeps one connection to a server open until closed.

    ``kind="virsh"`` runs an interactive virsh shell fed from a pipe; ``kind="python"``
    runs libvirt-python under the system interpreter.  The constructor returns once the
    connection is open.
    """

    def __init__(self, uri: str, kind: str = "virsh", timeout: float = DEFAULT_TIMEOUT) -> None:
        self.uri = uri
        self.kind = kind
        if kind == "virsh":
            argv = [find_virsh(), "-q", "-c", uri]
        elif kind == "python":
            argv = [find_system_python(), "-c", _HOLDER_PY, uri]
        else:
            raise ValueError(f"unknown holder kind {kind!r}")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=client_env(),
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in self.proc.stdout:
                self._lines.put(line)
        self._lines.put(None)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        if self.kind == "virsh":
            # virsh has connected before it reads its first command; `uri` echoes it back.
            self.proc.stdin.write("uri\n")
            self.proc.stdin.flush()
            want = "://"
        else:
            want = "ready"
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if want in line and not line.startswith("virsh #"):
                return
        stderr = ""
        if self.proc.poll() is not None and self.proc.stderr is not None:
            stderr = self.proc.stderr.read()
        raise RuntimeError(
            f"holder ({self.kind}) did not connect to {self.uri}: "
            f"stdout={''.join(seen)!r} stderr={stderr!r}"
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                if self.kind == "virsh" and self.alive:
                    self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def hold_connection(uri: str, kind: str = "virsh") -> Iterator[Holder]:
    """Context manager form of :class:`Holder`."""
    holder = Holder(uri, kind=kind)
    try:
        yield holder
    finally:
        holder.close()


# --------------------------------------------------------------------------------------------
# the real libvirtd with the test driver


def short_workdir(preferred: Path, limit: int = 60) -> Path:
    """``preferred`` if unix socket paths under it stay well below the 107-byte limit,
    else a fresh short directory in /tmp."""
    if len(str(preferred)) <= limit:
        preferred.mkdir(parents=True, exist_ok=True)
        return preferred
    return Path(tempfile.mkdtemp(prefix="netrpc-lvd-", dir="/tmp"))


def free_tcp_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _unix_open(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(path)
            return True
    except OSError:
        return False


class RealLibvirtd(Endpoints):
    """A private libvirtd 9.x with only the built-in test driver, in its own directory.

    Layout under ``workdir``: ``libvirtd.conf``, ``libvirtd.pid``, ``libvirtd.log`` (daemon
    log), ``libvirtd.out`` (stdout/stderr), ``run/`` (libvirt-sock, libvirt-sock-ro,
    libvirt-admin-sock) and ``drivers/`` (kept empty, so no loadable driver is found).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        log_level: int = 3,
        config: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        """:param config: libvirtd.conf lines to add or override (values as written).
        :param env: extra environment (e.g. ``SASL_CONF_PATH``).
        :param prefix: a command the daemon runs under (e.g. ``unshare ...``)."""
        super().__init__(name="libvirtd", host=host)
        self.workdir = Path(workdir)
        self.log_level = log_level
        self.config_overrides = dict(config or {})
        self.extra_env = dict(env or {})
        self.prefix = list(prefix)
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf_path = self.workdir / "libvirtd.conf"
        self.pid_path = self.workdir / "libvirtd.pid"
        self.log_path = self.workdir / "libvirtd.log"
        self.out_path = self.workdir / "libvirtd.out"
        self.sock_dir = self.workdir / "run"
        self.driver_dir = self.workdir / "drivers"

    def _write_config(self, port: int) -> None:
        self.sock_dir.mkdir(parents=True, exist_ok=True)
        self.driver_dir.mkdir(parents=True, exist_ok=True)
        lines = {
            "listen_tls": "0",
            "listen_tcp": "1",
            "listen_addr": json.dumps(self.host),
            "tcp_port": json.dumps(str(port)),
            "auth_tcp": '"none"',
            "auth_unix_rw": '"none"',
            "auth_unix_ro": '"none"',
            "unix_sock_dir": json.dumps(str(self.sock_dir)),
            "unix_sock_rw_perms": '"0770"',
            "unix_sock_ro_perms": '"0777"',
            "unix_sock_admin_perms": '"0700"',
            "log_level": str(self.log_level),
            "log_outputs": json.dumps(f"{self.log_level}:file:{self.log_path}"),
            **self.config_overrides,
        }
        self.conf_path.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))

    def start(self, timeout: float = 20.0, attempts: int = 3) -> RealLibvirtd:
        binary = find_libvirtd()
        last_error = ""
        for _ in range(attempts):
            port = free_tcp_port(self.host)
            self._write_config(port)
            with contextlib.suppress(FileNotFoundError):
                self.pid_path.unlink()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("LIBVIRT_", "VIRSH_"))}
            env["LIBVIRT_DRIVER_DIR"] = str(self.driver_dir)
            env["LC_ALL"] = "C"
            env.update(self.extra_env)
            with open(self.out_path, "ab") as out:
                self.proc = subprocess.Popen(
                    [*self.prefix, binary, "--listen", "-f", str(self.conf_path), "-p", str(self.pid_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.workdir,
                    start_new_session=True,
                )
            self.tcp_port = port
            self.unix_path = str(self.sock_dir / "libvirt-sock")
            self.ro_path = str(self.sock_dir / "libvirt-sock-ro")
            self.admin_path = str(self.sock_dir / "libvirt-admin-sock")
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
        raise RuntimeError(f"libvirtd did not start: {last_error}")

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        assert self.tcp_port is not None
        assert self.unix_path
        assert self.ro_path
        assert self.admin_path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"libvirtd exited with {self.proc.returncode}: {self.output()}")
            if (
                self.pid_path.exists()
                and _tcp_open(self.host, self.tcp_port)
                and all(_unix_open(p) for p in (self.unix_path, self.ro_path, self.admin_path))
            ):
                self.pid = self.proc.pid
                return
            time.sleep(0.05)
        raise RuntimeError(f"libvirtd not ready after {timeout}s: {self.output()}")

    def output(self) -> str:
        parts = []
        for path in (self.out_path, self.log_path):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace")
                parts.append(f"--- {path.name}\n{text[-4000:]}")
        return "\n".join(parts)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        self.pid = None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RealLibvirtd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Go programs


def _go_env(gopath_extra: Path, gocache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GO111MODULE="off",
        GOPATH=f"{GOCODE}:{gopath_extra}",
        GOCACHE=str(gocache),
        GOFLAGS="",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        HOME=str(private_home()),
    )
    return env


def go_env(gopath_extra: Path, gocache: Path) -> dict[str, str]:
    """Environment for an offline GOPATH-mode ``go`` run with *gopath_extra* on GOPATH."""
    return _go_env(gopath_extra, gocache)


def _go_source_hash(go: str) -> str:
    h = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60)
    h.update(version.stdout.encode())
    for src in sorted(GO_SOURCES.rglob("*.go")):
        h.update(str(src.relative_to(GO_SOURCES)).encode())
        h.update(src.read_bytes())
    for tree in (GO_LIBVIRT_SRC, GO_QEMU_SRC):
        for src in sorted(tree.rglob("*.go")):
            st = src.stat()
            h.update(f"{src}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def build_go_programs(names: Sequence[str] = GO_PROGRAMS) -> dict[str, Path]:
    """Build the Go peer programs offline (GOPATH mode) and return name -> binary path.

    Binaries are cached under /tmp by a hash of their sources, the Go version and the
    packaged go-libvirt / go-qemu trees, so repeated test sessions do not rebuild.
    """
    go = find_go()
    find_go_sources()
    digest = _go_source_hash(go)
    GO_BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    out_dir = GO_BUILD_ROOT / digest
    gocache = GO_BUILD_ROOT / "gocache"
    result = {name: out_dir / name for name in names}
    lock_path = GO_BUILD_ROOT / "build.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [n for n, p in result.items() if not p.exists()]
        if not missing:
            return result
        staging = Path(tempfile.mkdtemp(prefix="build-", dir=GO_BUILD_ROOT))
        try:
            gopath = staging / "gopath"
            for name in missing:
                pkg_dir = gopath / "src/netrpc-interop" / name
                pkg_dir.mkdir(parents=True)
                for src in (GO_SOURCES / name).glob("*.go"):
                    shutil.copy2(src, pkg_dir / src.name)
                proc = subprocess.run(
                    [go, "build", "-o", str(staging / name), "."],
                    cwd=pkg_dir,
                    env=_go_env(gopath, gocache),
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"go build {name} failed:\n{describe(proc)}")
            out_dir.mkdir(exist_ok=True)
            for name in missing:
                os.replace(staging / name, out_dir / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # Builds of other checkouts may be in use by their test runs: only builds nobody
        # has made for a day are removed.
        stale = time.time() - 86400
        for old in GO_BUILD_ROOT.iterdir():
            if (old.is_dir() and old.name not in (digest, "gocache") and len(old.name) == 16
                    and old.stat().st_mtime < stale):
                shutil.rmtree(old, ignore_errors=True)
    return result


if __name__ == "__main__":  # manual use: python3 -m tests.interop.peers
    with (
        tempfile.TemporaryDirectory(prefix="netrpc-libvirtd-") as tmp,
        RealLibvirtd(Path(tmp)) as d,
    ):
        print(
            json.dumps(
                {
                    "pid": d.pid,
                    "uri_tcp": d.uri_tcp,
                    "uri_unix": d.uri_unix,
                    "uri_admin": d.uri_admin,
                    "workdir": tmp,
                }
            ),
            flush=True,
        )
        print(run_virsh(d.uri_tcp, "list", "--all").stdout, end="")
        if len(sys.argv) > 1 and sys.argv[1] == "--wait":
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
