"""Password files of salted SCRAM verifiers, and the ``netrpc-passwd`` command.

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

import argparse
import getpass
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from ...core.errors import NetRPCError
from .mechanisms import SCRAM_SHA_256, b64, unb64

__all__ = (
    "DEFAULT_ITERATIONS",
    "PasswordFile",
    "PasswordFileError",
    "ScramVerifier",
    "main",
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


def _check_user(user: str) -> None:
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
                _check_user(user)
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


# ------------------------------------------------------------------------------ command


def _read_password(stdin: object) -> str:
    stream = sys.stdin if stdin is None else stdin
    isatty = getattr(stream, "isatty", lambda: False)
    if isatty():
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Again: ")
        if first != second:
            raise ValueError("the passwords differ")
        return first
    text = str(getattr(stream, "read")())  # noqa: B009
    if text.endswith("\n"):
        text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
    if "\n" in text:
        raise ValueError("the password read from standard input has more than one line")
    return text


def main(argv: Sequence[str] | None = None, *, stdin: object = None) -> int:
    """``netrpc-passwd [-d] [--iterations N] FILE USER``; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="netrpc-passwd",
        description="Add, change or delete a user in a netrpc SASL password file "
        "(salted SCRAM-SHA-256 verifiers; the file is created with mode 0600).",
    )
    ap.add_argument("file", metavar="FILE")
    ap.add_argument("user", metavar="USER")
    ap.add_argument("-d", "--delete", action="store_true", help="delete USER")
    ap.add_argument(
        "--iterations", type=int, default=DEFAULT_ITERATIONS, metavar="N",
        help="PBKDF2 iterations (default %(default)s, the minimum)",
    )
    args = ap.parse_args(argv)
    prog = "netrpc-passwd"
    try:
        _check_user(args.user)
        if args.iterations < DEFAULT_ITERATIONS:
            raise ValueError(f"--iterations must be at least {DEFAULT_ITERATIONS}")
        users = PasswordFile.read(args.file) if os.path.exists(args.file) else {}
        if args.delete:
            if args.user not in users:
                print(f"{prog}: {args.file}: no user {args.user!r}", file=sys.stderr)
                return 1
            del users[args.user]
        else:
            password = _read_password(stdin)
            if not password:
                raise ValueError("empty password")
            users[args.user] = ScramVerifier.make(password, iterations=args.iterations)
        PasswordFile.write(args.file, users)
    except (ValueError, OSError) as exc:
        text = str(exc) if isinstance(exc, ValueError) else f"{args.file}: {exc.strerror}"
        print(f"{prog}: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0

