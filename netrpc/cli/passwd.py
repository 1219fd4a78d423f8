"""``netrpc-passwd [-d] [--iterations N] FILE USER``: edit a SASL password file.

Also ``python -m netrpc.cli.passwd``; see :mod:`netrpc.security.sasl.passwd` for the format.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence

from ..security.sasl.passwd import DEFAULT_ITERATIONS, PasswordFile, ScramVerifier, check_user

__all__ = ("main",)



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
        check_user(args.user)
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


if __name__ == "__main__":
    sys.exit(main())
