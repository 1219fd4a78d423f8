"""Password files of salted SCRAM verifiers (written by ``netrpc-passwd``).

A password file never holds a password.  Each line is a user and the RFC 5803 form of its
SCRAM-SHA-256 verifier (salt, iteration count, StoredKey, ServerKey), which is enough to
check a client's proof and prove the server's identity, but not to log in as the user::

    # netrpc password file
    fred:SCRAM-SHA-256$4096:c2FsdHNhbHQ=$c3RvcmVka2V5...:c2VydmVya2V5...

``netrpc-passwd FILE USER`` adds or changes a user (the password is read from standard
input when that is not a terminal, otherwise asked twice), ``netrpc-passwd -d FILE USER``
deletes one.  The file is created with mode 0600 and replaced atomically.

A server reads the file again whenever it changes on disk, so users can be added while it
runs.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass

from ...core.errors import NetRPCError
from .mechanisms import SCRAM_SHA_256, b64, unb64

__all__ = (
    "DEFAULT_ITERATIONS",
    "PasswordFile",
    "PasswordFileError",
    "ScramVerifier",
    "check_user",
)

#: the iteration count Cyrus SASL (and so libvirtd) uses for SCRAM
DEFAULT_ITERATIONS = 4096
_SALT_BYTES = 32


class PasswordFileError(NetRPCError, ValueError):
    """A password file cannot be read or is malformed (the message names file and line)."""


@dataclass(frozen=True, slots=True)
class ScramVerifier:
    """What a server keeps to check a SCRAM-SHA-256 login (RFC 5802 section 3)."""

    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    @classmethod
    def make(
        cls, password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
    ) -> ScramVerifier:
        """Derive the verifier of *password* with a fresh random salt."""
        import scramp

        salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
        mech = scramp.ScramMechanism(SCRAM_SHA_256)
        salt_out, stored, server, count = mech.make_auth_info(
            password, iteration_count=iterations, salt=salt
        )
        return cls(int(count), bytes(salt_out), bytes(stored), bytes(server))

    def to_text(self) -> str:
        """RFC 5803's ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``."""
        return (
            f"{SCRAM_SHA_256}${self.iterations}:{b64(self.salt)}"
            f"${b64(self.stored_key)}:{b64(self.server_key)}"
        )

    @classmethod
    def from_text(cls, text: str) -> ScramVerifier:
        """Parse :meth:`to_text`'s form.

        :raises ValueError: when it is not a SCRAM-SHA-256 verifier.
        """
        try:
            scheme, first, keys = text.split("$")
            count_text, salt_text = first.split(":")
            stored_text, server_text = keys.split(":")
        except ValueError:
            raise ValueError("not a SCRAM verifier (want SCRAM-SHA-256$I:SALT$STORED:SERVER)") \
                from None
        if scheme != SCRAM_SHA_256:
            raise ValueError(f"unsupported scheme {scheme!r} (only {SCRAM_SHA_256})")
        if not count_text.isdigit() or int(count_text) < DEFAULT_ITERATIONS:
            raise ValueError(f"iteration count must be at least {DEFAULT_ITERATIONS}")
        stored, server = unb64(stored_text), unb64(server_text)
        if len(stored) != 32 or len(server) != 32:
            raise ValueError("StoredKey and ServerKey must be 32 bytes")
        salt = unb64(salt_text)
        if not salt:
            raise ValueError("empty salt")
        return cls(int(count_text), salt, stored, server)


def check_user(user: str) -> None:
    """Refuse a user name a password file cannot hold.

    :raises ValueError: naming the user.
    """
    if not user or any(c in user for c in ":\n\r") or user != user.strip():
        raise ValueError(f"invalid user name {user!r} (no ':', line breaks or outer spaces)")


class PasswordFile:
    """A password file, re-read whenever it changes on disk.

    :param path: the file; it must exist (create it with ``netrpc-passwd``).
    :raises PasswordFileError: at construction when the file cannot be read or parsed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._stamp: tuple[int, int, int, int] | None = None
        self._users: dict[str, ScramVerifier] = {}
        self._reload()

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise PasswordFileError(
                f"{self.path}: cannot read password file: {exc.strerror}"
            ) from None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if stamp == self._stamp:
            return
        self._users = self.read(self.path)
        self._stamp = stamp

    def lookup(self, user: str) -> ScramVerifier | None:
        """The verifier of *user*, or None.

        :raises PasswordFileError: while the file is unreadable or malformed (logins then
            fail, logged with the file and line; the daemon keeps running).
        """
        self._reload()
        return self._users.get(user)

    @property
    def users(self) -> list[str]:
        """The user names, in file order."""
        self._reload()
        return list(self._users)

    @staticmethod
    def read(path: str) -> dict[str, ScramVerifier]:
        """Parse a password file.

        :raises PasswordFileError: naming the file and line.
        """
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise PasswordFileError(f"{path}: cannot read password file: {why}") from None
        users: dict[str, ScramVerifier] = {}
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            user, sep, verifier = line.partition(":")
            try:
                if not sep:
                    raise ValueError("expected USER:VERIFIER")
                check_user(user)
                users[user] = ScramVerifier.from_text(verifier.strip())
            except ValueError as exc:
                raise PasswordFileError(f"{path}:{number}: {exc}") from None
        return users

    @staticmethod
    def write(path: str, users: dict[str, ScramVerifier]) -> None:
        """Replace *path* atomically with *users* (mode 0600)."""
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".netrpc-passwd.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write("# netrpc password file: user:SCRAM-SHA-256 verifier (RFC 5803)\n")
                for user, verifier in users.items():
                    f.write(f"{user}:{verifier.to_text()}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
