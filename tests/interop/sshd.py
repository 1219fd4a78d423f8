"""A private OpenSSH server on 127.0.0.1 for the ssh transport tests.

Throwaway host and user keys, a free port, public-key login for the current user only, no
PAM.  ssh reads ``~/.ssh`` from the password database, not from $HOME, so the client side
is an ``ssh`` wrapper (given to libvirt and netrpc as the URI's ``command=``) that adds
``-F CONFIG`` with a private ``known_hosts`` holding the host key, then the unchanged
command line libvirt builds.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .peers import PeerMissing, free_tcp_port

SSHD_CANDIDATES = ("/usr/sbin/sshd", "sshd")


def find_sshd() -> str:
    """The sshd binary and ssh-keygen (Debian openssh-server), or raise PeerMissing."""
    for name in ("ssh", "ssh-keygen"):
        if shutil.which(name) is None:
            raise PeerMissing(f"{name} not found (install openssh-client)")
    for cand in SSHD_CANDIDATES:
        path = shutil.which(cand)
        if path:
            return path
    raise PeerMissing("sshd not found (install openssh-server)")


class PrivateSshd:
    """``sshd -D`` with its own config, keys and port; :meth:`stop` kills it."""

    def __init__(self, sshd: str) -> None:
        self.sshd = sshd
        self.workdir = Path(tempfile.mkdtemp(prefix="netrpc-sshd-"))
        self.workdir.chmod(0o700)
        self.port = 0
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_key = self.workdir / "host_key"
        self.user_key = self.workdir / "user_key"
        self.log_path = self.workdir / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ssh = self.workdir / "ssh"

    def start(self, timeout: float = 20.0) -> PrivateSshd:
        for key in (self.host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True, capture_output=True, timeout=60)
        authorized = self.workdir / "authorized_keys"
        authorized.write_bytes(self.user_key.with_suffix(".pub").read_bytes())
        authorized.chmod(0o600)
        # Privilege separation needs its directory, as the Debian service unit creates it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.port = free_tcp_port()
        config = self.workdir / "sshd_config"
        config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"AuthorizedKeysFile {authorized}\n"
            f"AllowUsers {self.user}\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            f"PidFile {self.workdir / 'sshd.pid'}\n"
            "LogLevel VERBOSE\n"
        )
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.sshd, "-D", "-e", "-f", str(config)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"sshd did not listen: {self.log()}")
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        known = self.workdir / "known_hosts"
        known.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        client_config = self.workdir / "ssh_config"
        client_config.write_text(
            f"UserKnownHostsFile {known}\n"
            "GlobalKnownHostsFile /dev/null\n"
            "StrictHostKeyChecking yes\n"
            "LogLevel ERROR\n"
        )
        self.ssh = self.workdir / "ssh"
        self.ssh.write_text(f'#!/bin/sh\nexec ssh -F {client_config} "$@"\n')
        self.ssh.chmod(0o755)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def uri(self, driver_path: str, **params: str) -> str:
        """``DRIVER+ssh://USER@127.0.0.1:PORT/PATH?keyfile=...&no_tty=1&...``."""
        query = "&".join(f"{k}={v}" for k, v in {
            "keyfile": str(self.user_key), "no_tty": "1", "command": str(self.ssh), **params
        }.items())
        driver, _, path = driver_path.partition(":///")
        return f"{driver}+ssh://{self.user}@127.0.0.1:{self.port}/{path}?{query}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)
