"""``testvirtd``: a libvirtd-compatible daemon serving an in-memory test:///default hypervisor.

Real clients (virsh, libvirt-python, go-libvirt) use it exactly as they use libvirtd::

    testvirtd                                   # unix sockets + tcp://127.0.0.1:16509
    testvirtd --listen tcp://127.0.0.1:0 --listen unix:///tmp/tv/sock --state tv.json
    virsh -c test+tcp://127.0.0.1:16509/default list --all
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from netrpc.admin.config import ConfigError, DaemonConfig, apply_runtime, load_config
from netrpc.admin.logconfig import LogConfig, LoggingError
from netrpc.io.server.faults import FaultRuleError, parse_rule
from netrpc.security.tls import PKIFiles, TLSContext, TLSError

from .daemon import (
    CONFIG_KEYS,
    DEFAULT_URI,
    DRIVER_SOCKET,
    DRIVER_SOCKET_RO,
    Listen,
    ListenError,
    TestVirtd,
    check_default_uri,
    default_admin_socket,
    default_qmp_dir,
    load_hypervisor,
    parse_listen,
    run_daemon,
    sasl_from_config,
)
from .domxml import VirtError
from .faults import remote_procedure_number
from .hypervisor import StateFileError
from .nodefile import load_node_file
from .settings import Choices, check_settings, listens_from_config

__all__ = ("build_parser", "main")


def build_parser() -> argparse.ArgumentParser:
    """The command line parser."""
    ap = argparse.ArgumentParser(
        prog="testvirtd",
        description="A libvirtd-compatible daemon with an in-memory test hypervisor.",
    )
    ap.add_argument(
        "--listen", action="append", metavar="URI", default=[],
        help="endpoint to listen on: unix:///PATH, unix-ro:///PATH (read-only), "
        "tcp://HOST:PORT or tls://HOST:PORT (port 0: any free port; tls needs --pki); "
        "repeatable.  Default: libvirt-sock and "
        "libvirt-sock-ro in the runtime directory, and tcp://127.0.0.1:16509",
    )
    ap.add_argument(
        "--driver-sockets", action="store_true",
        help=f"also listen on {DRIVER_SOCKET} and {DRIVER_SOCKET_RO}, where libvirt's "
        "clients look for a test driver daemon: test+unix:///default and "
        "test+ssh://HOST/default (through virt-ssh-helper) then need no socket=",
    )
    ap.add_argument(
        "--fault", action="append", metavar="RULE", default=[], type=_fault_rule,
        help="make calls fail on purpose (repeatable; rules can also be added and cleared at "
        "run time over the admin socket): " + _FAULT_HELP,
    )
    ap.add_argument(
        "--state", metavar="FILE",
        help="load the hypervisor state from FILE at start (if it exists) and save it "
        "there after every change",
    )
    ap.add_argument(
        "--keep-state", action="store_true",
        help="keep test:///default's state when its last connection closes (libvirtd's "
        "test driver, and testvirtd by default, start afresh then); implied by --state",
    )
    ap.add_argument(
        "--default-uri", type=_default_uri, default=DEFAULT_URI, metavar="URI",
        help="the URI opened for clients that send none (default: %(default)s); "
        "test:///ABS/PATH.xml names a node file in libvirt's test driver format",
    )
    ap.add_argument(
        "--qmp-dir", metavar="DIR",
        help="serve a QMP socket DIR/<domain>.sock for each running domain (default: qmp/ "
        "next to the first unix socket, else in the runtime directory); 'none' disables them",
    )
    ap.add_argument(
        "--timeout", type=_seconds, default=None, metavar="SECONDS",
        help="exit after SECONDS without clients (default: never)",
    )
    ap.add_argument("--pid-file", metavar="FILE", help="write the daemon's pid to FILE")
    ap.add_argument(
        "--config", metavar="FILE",
        help="settings in libvirtd.conf syntax (endpoints without --listen, socket "
        "permissions, auth_* and sasl_*, TLS, limits, workers, keepalive, logging, admin_*, "
        "mdns_*); a setting that cannot take effect is refused; SIGHUP reloads what can "
        "change at run time",
    )
    ap.add_argument(
        "--admin-socket", metavar="PATH",
        help="where the admin socket for virt-admin goes (default: libvirt-admin-sock next "
        "to the read-write unix socket)",
    )
    ap.add_argument("--no-admin", action="store_true", help="do not serve the admin socket")
    ap.add_argument(
        "--pki", metavar="DIR",
        help="TLS credentials for tls:// endpoints: a directory with cacert.pem, "
        "servercert.pem, serverkey.pem (or private/serverkey.pem) and optional cacrl.pem "
        "(make one with netrpc-certs); default: libvirt's locations",
    )
    ap.add_argument(
        "--tls-allowed-dn", action="append", metavar="PATTERN", default=None,
        help="only accept TLS clients whose certificate DN matches PATTERN (glob, e.g. "
        "'O=netrpc,CN=*'); repeatable; default: any client certificate signed by the CA",
    )
    ap.add_argument(
        "--mdns", action="store_true", help="advertise the TCP/TLS endpoints over mDNS"
    )
    ap.add_argument(
        "--mdns-name", metavar="NAME",
        help='mDNS instance name (default: "Virtualization Host <short hostname>")',
    )
    ap.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help=argparse.SUPPRESS
    )
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="log more (-v: info, -vv: debug)")
    return ap


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"want a positive number of seconds, not {text!r}")
    return value


def _default_uri(text: str) -> str:
    try:
        return check_default_uri(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _node_file_problem(uri: str) -> str | None:
    """Why the node file a ``test:///PATH.xml`` default URI names cannot be loaded (None:
    it loads, or the URI names no node file).  Clients get libvirt's error for it anyway;
    this tells the operator at start."""
    if uri.split(":", 1)[0] != "test" or urlsplit(uri).path == "/default":
        return None
    try:
        load_node_file(urlsplit(uri).path).close()
    except VirtError as exc:
        return (exc.message or "").split("\n", 1)[0]
    return None


def _describe(error: BaseException) -> str:
    """One line for an expected start-up failure."""
    if isinstance(error, OSError) and type(error).__str__ is OSError.__str__:
        reason = error.strerror or str(error)
        if error.filename is not None:
            return f"{error.filename}: {reason}"
        return reason
    return str(error)


_FAULT_HELP = (
    "PROC:ACTION[,times=N][,probability=P][,seed=S], where PROC is a procedure name as in "
    "remote_protocol.x without REMOTE_PROC_ (DOMAIN_GET_INFO), its number, or * for every "
    "call; ACTION is error=CODE/DOMAIN/MESSAGE (answer with that libvirt error; the message "
    "runs to the next comma), delay=SECONDS (answer late), hang (never answer), drop-before "
    "(close the connection instead of answering), drop-after (answer, then close) or corrupt "
    "(answer with a reply that cannot be decoded); times=N applies the rule to the next N "
    "calls only, probability=P to each call with probability P (seed=S makes it "
    "repeatable).  Server-wide: keepalive:hang (keepalive PINGs go unanswered, as from a "
    "hung daemon) and accept:refuse (new connections are closed at once).  Example: "
    "--fault 'DOMAIN_GET_INFO:error=1/10/injected failure,times=1'"
)


def _fault_rule(text: str) -> str:
    """argparse type of --fault: the rule, checked."""
    try:
        return parse_rule(text, resolve=remote_procedure_number).text
    except FaultRuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon; returns the exit status (0 after a graceful stop)."""
    args = build_parser().parse_args(argv)
    try:
        config = (
            load_config(args.config, extra_keys=CONFIG_KEYS) if args.config else DaemonConfig()
        )
        listens = [parse_listen(uri) for uri in args.listen] or listens_from_config(config)
        if args.driver_sockets:
            listens += [parse_listen(f"unix://{DRIVER_SOCKET}"),
                        parse_listen(f"unix-ro://{DRIVER_SOCKET_RO}")]
        sasl = sasl_from_config(config, listens)
        check_settings(config, listens, _choices(args))
    except ListenError as exc:
        print(f"testvirtd: error: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, OSError) as exc:
        print(f"testvirtd: error: {_describe(exc)}", file=sys.stderr)
        return 2
    # libvirt's log priorities: 1 debug, 2 info, 3 warning, 4 error; -v / -vv override.
    priority = (config.log_level, 2, 1)[min(args.verbose, 2)]
    log_config = LogConfig.default()
    try:
        log_config.configure(
            priority=priority, outputs=config.log_outputs, filters=config.log_filters
        )
    except LoggingError as exc:
        print(f"testvirtd: error: {exc}", file=sys.stderr)
        return 2
    tls_context = None
    if any(listen.kind == "tls" for listen in listens) or args.pki:
        try:
            tls_context = _tls_context(args, config)
        except (TLSError, ConfigError, OSError) as exc:
            print(f"testvirtd: error: {_describe(exc)}", file=sys.stderr)
            return 2
    problem = _node_file_problem(args.default_uri)
    if problem is not None:
        print(f"testvirtd: error: --default-uri {args.default_uri}: {problem}", file=sys.stderr)
        return 2
    try:
        hv = load_hypervisor(args.state, args.default_uri)
    except StateFileError as exc:
        print(f"testvirtd: error: {exc}", file=sys.stderr)
        print("testvirtd: the state file was left untouched; fix or remove it", file=sys.stderr)
        return 1
    try:
        admin_socket = None
        if not args.no_admin:
            admin_socket = args.admin_socket or default_admin_socket(listens)
        current = {"config": config}

        def reload() -> None:
            if not args.config:
                return
            new = load_config(args.config, extra_keys=CONFIG_KEYS)
            check_settings(new, listens, _choices(args))
            apply_runtime(new, daemon.daemon, log_config=log_config, previous=current["config"])
            current["config"] = new

        daemon = TestVirtd(
            hv, listens, default_uri=args.default_uri, state_file=args.state,
            idle_timeout=args.timeout, pid_file=args.pid_file, admin_socket=admin_socket,
            config=config, log_config=log_config,
            mdns=args.mdns or config.mdns_adv, mdns_name=args.mdns_name or config.mdns_name,
            on_reload=reload, tls_context=tls_context,
            qmp_dir=_qmp_dir(args.qmp_dir, listens), faults=args.fault, sasl=sasl,
            keep_state=args.keep_state,
        )

        def ready(d: TestVirtd) -> None:
            sys.stdout.write(d.ready_text())
            sys.stdout.flush()

        run_daemon(daemon, backend=args.backend, on_ready=ready)
    except KeyboardInterrupt:
        pass
    except (OSError, BaseExceptionGroup) as exc:
        errors = _leaves(exc)
        if not all(isinstance(e, OSError) for e in errors):
            raise
        for err in errors:
            print(f"testvirtd: error: {_describe(err)}", file=sys.stderr)
        return 1
    finally:
        hv.close()
    return 0


def _choices(args: argparse.Namespace) -> Choices:
    return Choices(
        listen=bool(args.listen), pki=bool(args.pki),
        tls_allowed_dn=args.tls_allowed_dn is not None, no_admin=args.no_admin,
        mdns=args.mdns, mdns_name=args.mdns_name is not None,
    )


def _tls_context(args: argparse.Namespace, config: DaemonConfig) -> TLSContext:
    allowed = args.tls_allowed_dn
    if allowed is None and config.tls_allowed_dn_list is not None:
        allowed = list(config.tls_allowed_dn_list)
    # tls_no_verify_certificate, tls_no_sanity_certificate and tls_priority as libvirtd
    # applies them (the priority as an OpenSSL cipher list).
    options: dict[str, Any] = {
        "allowed_dns": allowed,
        "verify_peer": not config.tls_no_verify_certificate,
        "sanity_check": not config.tls_no_sanity_certificate,
        "priority": config.tls_priority,
    }
    try:
        if args.pki:
            return TLSContext.server_from_pki(args.pki, **options)
        if config.cert_file and config.key_file and config.ca_file:
            return TLSContext.server(
                ca_file=config.ca_file, cert_file=config.cert_file, key_file=config.key_file,
                crl_file=config.crl_file, **options,
            )
        files = PKIFiles.locate(role="server")
        return TLSContext(files, role="server", **options)
    except TLSError as exc:
        if "cipher list" in str(exc) and "tls_priority" in config.lines:
            raise ConfigError(
                config.source or "<config>", config.lines["tls_priority"], str(exc),
                "tls_priority",
            ) from None
        raise


def _qmp_dir(option: str | None, listens: Sequence[Listen]) -> str | None:
    if option == "none":
        return None
    return option or default_qmp_dir(listens)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


if __name__ == "__main__":
    sys.exit(main())
