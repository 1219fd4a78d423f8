"""testvirtd as a subprocess, described as :class:`~tests.interop.peers.Endpoints`."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .peers import Endpoints

ROOT = Path(__file__).resolve().parents[2]


class Testvirtd(Endpoints):
    """``python -m daemons.testvirtd`` on a free TCP port and two unix sockets in a temp dir."""

    __test__ = False

    def __init__(
        self, *extra: str, env: Mapping[str, str] | None = None, prefix: Sequence[str] = ()
    ) -> None:
        """:param extra: more command line arguments.
        :param env: extra environment variables.
        :param prefix: a command to run the daemon under (e.g. ``unshare ...``)."""
        super().__init__(name="testvirtd")
        self.env = dict(env or {})
        self.prefix = list(prefix)
        self.workdir = Path(tempfile.mkdtemp(prefix="tvd-", dir="/tmp"))
        self.unix_path = str(self.workdir / "libvirt-sock")
        self.ro_path = str(self.workdir / "libvirt-sock-ro")
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.stderr: list[str] = []
        self._threads: list[threading.Thread] = []

    def start(self, timeout: float = 20.0) -> Testvirtd:
        argv = [*self.prefix, sys.executable, "-m", "daemons.testvirtd",
                "--listen", "tcp://127.0.0.1:0",
                "--listen", f"unix://{self.unix_path}",
                "--listen", f"unix-ro://{self.ro_path}", *self.extra]
        env = {**os.environ, **self.env} if self.env else None
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [threading.Thread(target=self._drain, args=(self.proc.stderr,),
                                          daemon=True)]
        self._threads[0].start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            m = re.search(r"\w+\+tcp://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.tcp_port = int(m.group(1))
            if line.strip() == "ready":
                self.pid = self.proc.pid
                reader = threading.Thread(target=self._drain, args=(self.proc.stdout,),
                                          daemon=True)
                reader.start()
                self._threads.append(reader)
                return self
        self.stop()
        raise RuntimeError(f"testvirtd did not start: {self.lines} {''.join(self.stderr)}")

    def _drain(self, stream: object) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in stream:  # type: ignore[attr-defined]
                self.stderr.append(line)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            else:
                code = proc.returncode
            for thread in self._threads:
                thread.join(timeout=5)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return code


@contextlib.contextmanager
def running(*extra: str) -> Iterator[Testvirtd]:
    daemon = Testvirtd(*extra).start()
    try:
        yield daemon
    finally:
        code = daemon.stop()
        assert code in (0, None), f"testvirtd exited with {code}: {''.join(daemon.stderr)}"
