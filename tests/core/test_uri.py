"""libvirt connection URIs: transports, defaults, the CONNECT_OPEN name, ssh command lines."""

from __future__ import annotations

import pytest

from netrpc.io.uri import URIError, parse_uri, shell_escape, ssh_helper_command

NC_DEFAULT = (
    "if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;"
    "fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock"
)


@pytest.mark.parametrize(
    ("uri", "transport", "host", "port", "name"),
    [
        ("qemu:///system", "unix", None, None, "qemu:///system"),
        ("test+unix:///default?socket=/tmp/s", "unix", None, None, "test:///default"),
        ("test+tcp://127.0.0.1/default", "tcp", "127.0.0.1", None, "test:///default"),
        ("test+tcp://h:1234/default", "tcp", "h", 1234, "test:///default"),
        ("qemu://host/system", "tls", "host", None, "qemu:///system"),
        ("qemu+TLS://host/system?pkipath=/p&no_verify=1", "tls", "host", None, "qemu:///system"),
        ("qemu+ssh://u@[::1]:22/system?keyfile=/k", "ssh", "::1", 22, "qemu:///system"),
        ("test+ssh://host/tmp/node.xml?foo=bar", "ssh", "host", None,
         "test:///tmp/node.xml?foo=bar"),
        ("test+ext:///default?command=/bin/x", "ext", None, None, "test:///default"),
        ("qemu+ssh://host/system?name=qemu:///embed", "ssh", "host", None, "qemu:///embed"),
        ("remote+tcp://host/", "tcp", "host", None, ""),
        ("qemu+ssh://host", "ssh", "host", None, "qemu://"),
    ],
)
def test_parse(uri: str, transport: str, host: str | None, port: int | None, name: str) -> None:
    parsed = parse_uri(uri)
    assert (parsed.transport, parsed.host, parsed.port, parsed.name) == (
        transport, host, port, name)


def test_defaults() -> None:
    assert parse_uri("test+tcp:///default").tcp_port == 16509
    assert parse_uri("test+tcp:///default").hostname == "localhost"
    assert parse_uri("test+tls://h/default").tcp_port == 16514
    uri = parse_uri("qemu:///system")
    assert uri.unix_socket(exists=lambda p: False) == "/var/run/libvirt/libvirt-sock"
    assert uri.unix_socket(readonly=True, exists=lambda p: False) == (
        "/var/run/libvirt/libvirt-sock-ro")
    # The per-driver daemon's socket, when it exists ("direct" mode).
    assert uri.unix_socket(exists=lambda p: p.endswith("virtqemud-sock")) == (
        "/var/run/libvirt/virtqemud-sock")
    assert parse_uri("qemu:///system?mode=legacy").unix_socket(exists=lambda p: True) == (
        "/var/run/libvirt/libvirt-sock")
    assert parse_uri("test+unix:///default?socket=/a%20b/s").unix_socket() == "/a b/s"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("qemu+bogus://h/system", "transport in URL not recognised"),
        ("qemu+unix://h/system", "using unix socket and remote server 'h' is not supported."),
        ("not a uri", "Unable to parse URI"),
    ],
)
def test_refused(uri: str, message: str) -> None:
    with pytest.raises(URIError, match=message):
        parse_uri(uri)


def test_more_refusals() -> None:
    with pytest.raises(URIError, match="for 'ext' transport, command is required"):
        parse_uri("test+ext:///default").ext_argv()
    with pytest.raises(URIError, match="Cannot use direct socket mode for ssh transport"):
        parse_uri("qemu+ssh://h/system?mode=direct").ssh_argv()
    with pytest.raises(URIError, match="netcat path not valid with native proxy mode"):
        parse_uri("qemu+ssh://h/system?proxy=native&netcat=nc").ssh_argv()
    with pytest.raises(URIError, match="Failed to parse value of URI component no_tty"):
        parse_uri("qemu+ssh://h/system?no_tty=yes").ssh_argv()


def test_ssh_argv() -> None:
    argv = parse_uri(
        "test+ssh://user@host:2222/default?keyfile=/k/id&no_verify=1&no_tty=1"
    ).ssh_argv()
    assert argv[:-1] == ["ssh", "-p", "2222", "-l", "user", "-i", "/k/id", "-T", "-e", "none",
                         "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "--", "host"]
    assert argv[-1] == (
        "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     "
        f"virt-ssh-helper 'test:///default'; else    {NC_DEFAULT}; fi'"
    )
    argv = parse_uri("qemu+ssh://host/system?socket=/s/sock&command=/bin/myssh").ssh_argv(
        readonly=True)
    assert argv[0] == "/bin/myssh"
    assert argv[-1] == f"sh -c '{NC_DEFAULT.replace('/var/run/libvirt/libvirt-sock', '/s/sock')}'"
    assert parse_uri("qemu+ssh://host/system?proxy=native").ssh_argv(readonly=True)[-1] == (
        "sh -c 'virt-ssh-helper -r 'qemu:///system''")


def test_shell_escape_as_libvirt() -> None:
    assert shell_escape("") == "''"
    assert shell_escape("/usr/bin/nc") == "/usr/bin/nc"
    assert shell_escape("a b") == "'a b'"
    assert shell_escape("it's") == "'it'\\''s'"
    command = ssh_helper_command("netcat", netcat="/my nc", socket="/s", driver_uri="x:///",
                                 readonly=False)
    assert command.startswith("sh -c 'if '''\\''/my nc'\\'''' -q")
