"""``netrpc-certs``: write a libvirt-style PKI directory (see :mod:`netrpc.security.certs`).

Also ``python -m netrpc.cli.certs``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..security.certs import (
    load_credential,
    make_ca,
    make_client_cert,
    make_server_cert,
    query_dn,
    write_pki,
)

__all__ = ("main",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netrpc-certs",
        description="Create a libvirt-style PKI directory (CA, server and client "
        "certificates) usable by libvirtd, netrpc servers and virsh ?pkipath=DIR.",
    )
    parser.add_argument("--out", type=Path, help="directory to write (created if missing)")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME_OR_IP",
        help="server host name or IP address (repeat; the first is also the CN)",
    )
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="CN",
        help="client certificate common name (repeat; the first is clientcert.pem)",
    )
    parser.add_argument("--days", type=int, default=365, help="leaf validity (default 365)")
    parser.add_argument("--ca-days", type=int, default=3650, help="CA validity (default 3650)")
    parser.add_argument("--key-type", choices=("ec", "rsa"), default="ec", help="default ec")
    parser.add_argument("--org", default="netrpc", help="O= attribute (default netrpc)")
    parser.add_argument(
        "--ca-dir",
        type=Path,
        help="reuse the CA in this directory (cacert.pem + cakey.pem) instead of a new one",
    )
    parser.add_argument(
        "--no-ca-key", action="store_true", help="do not keep cakey.pem of a new CA"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--query-dn",
        metavar="CERT",
        help="print the DN of a PEM certificate as the DN allow-list matches it, and exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netrpc-certs``.

    :param argv: arguments without the program name (default ``sys.argv[1:]``)
    :return: the exit status
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.query_dn is not None:
        try:
            print(query_dn(args.query_dn))
        except (OSError, ValueError) as exc:
            print(f"netrpc-certs: {args.query_dn}: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.out is None:
        parser.error("--out is required (or use --query-dn)")
    if args.days <= 0 or args.ca_days <= 0:
        parser.error("--days and --ca-days must be positive")
    if len(set(args.client)) != len(args.client):
        parser.error("duplicate --client name")

    try:
        same_dir = args.ca_dir is not None and args.ca_dir.resolve() == args.out.resolve()
        if args.ca_dir is not None:
            ca = load_credential(args.ca_dir / "cacert.pem", args.ca_dir / "cakey.pem")
            write_ca_key = False  # it stays where it is
        else:
            ca = make_ca(
                f"O={args.org},CN={args.org} CA", key_type=args.key_type, days=args.ca_days
            )
            write_ca_key = not args.no_ca_key
        server = (
            make_server_cert(ca, args.host, org=args.org, key_type=args.key_type, days=args.days)
            if args.host
            else None
        )
        clients = {
            cn: make_client_cert(ca, cn, org=args.org, key_type=args.key_type, days=args.days)
            for cn in args.client
        }
        written = write_pki(
            args.out,
            ca=ca,
            server=server,
            clients=clients,
            # Issuing into the CA's own directory: its files are already there.
            write_ca_cert=not same_dir,
            write_ca_key=write_ca_key,
            overwrite=args.force,
        )
    except (OSError, ValueError) as exc:
        print(f"netrpc-certs: {exc}", file=sys.stderr)
        return 1

    for path in written:
        print(path)
    if server is not None:
        print(f"server DN: {server.dn}")
    for cn, client in clients.items():
        print(f"client {cn} DN: {client.dn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
