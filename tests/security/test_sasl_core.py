"""SASL pieces without sockets: libvirt's encoding, SSF rules, password files, framing."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from netrpc.cli.passwd import main as passwd_main
from netrpc.core import xdr
from netrpc.core.errors import RemoteProtocolError
from netrpc.core.identity import Transport
from netrpc.core.protocol import decode_error, encode_error
from netrpc.security.sasl import (
    PasswordFile,
    PasswordFileError,
    SASLConfig,
    SASLConfigError,
    ScramVerifier,
)
from netrpc.security.sasl.layer import FrameDecoder, encode
from netrpc.security.sasl.mechanisms import (
    GSSAPI,
    SCRAM_SHA_256,
    Layer,
    SASLAuthError,
    ScramClient,
    ScramServer,
    SecurityProperties,
    choose_layer,
    offered_layers,
    permitted,
)
from netrpc.security.sasl.wire import (
    AuthSaslStartArgs,
    AuthSaslStartRet,
    AuthSaslStepRet,
    CharData,
    auth_failed,
)

# --------------------------------------------------------------------------- the wire


def test_start_args_match_virsh_bytes() -> None:
    # traces/sasl_scram_unix.txt #0005: the start of a 204-byte START payload.
    wire = bytes.fromhex(
        "0000000d534352414d2d5348412d323536000000000000000000002c0000006e0000002c0000002c"
        "0000006e0000003d00000066000000720000006500000064"
    )
    args = AuthSaslStartArgs("SCRAM-SHA-256", 0, b"n,,n=fred,r=CxWIJcmNbQyfXXB46M3iecvpBrhfeB/0")
    encoded = xdr.codec_for(AuthSaslStartArgs).encode(args)
    assert len(encoded) == 204  # 4 bytes for every one of the 44 data bytes
    assert encoded.startswith(wire)
    assert xdr.codec_for(AuthSaslStartArgs).decode(encoded) == args


def test_char_data_is_sign_extended_both_ways() -> None:
    codec = CharData(16)
    # traces/sasl_gssapi_tcp.txt #0005: 0x60 0x82 0x02 0xc4 arrive as 60, ffffff82, 02, ffffffc4.
    wire = bytes.fromhex("00000004" "00000060" "ffffff82" "00000002" "ffffffc4")
    assert codec.decode(wire) == b"\x60\x82\x02\xc4"
    assert codec.encode(b"\x60\x82\x02\xc4") == wire
    # A zero-extended peer is understood too (xdr_char keeps the low byte).
    assert codec.decode(bytes.fromhex("00000001" "00000082")) == b"\x82"
    with pytest.raises(xdr.XdrError, match="exceeds maximum"):
        codec.decode(bytes.fromhex("00000011") + b"\0" * 68)
    with pytest.raises(xdr.XdrError, match="runs past end"):
        codec.decode(bytes.fromhex("00000002" "00000001"))


def test_gssapi_final_reply_bytes() -> None:
    # traces/sasl_gssapi_tcp.txt #0010: complete=1, nil=1, no data.
    ret = AuthSaslStepRet(1, 1, b"")
    assert xdr.codec_for(AuthSaslStepRet).encode(ret).hex() == "000000010000000100000000"
    start = AuthSaslStartRet(0, 0, b"\x05\x04\x05\xff")
    assert xdr.codec_for(AuthSaslStartRet).encode(start).hex() == (
        "00000000" "00000000" "00000004" "00000005" "00000004" "00000005" "ffffffff"
    )


def test_auth_failed_is_libvirtd_error() -> None:
    # traces/sasl_scram_badpw.txt #0008
    err = decode_error(encode_error(auth_failed()))
    assert (err.code, err.domain, err.level) == (45, 7, 2)
    assert err.message == "authentication failed: authentication failed"
    assert err.str1 == "authentication failed: %s"
    assert err.str2 == "authentication failed"
    assert (err.str3, err.int1, err.int2) == (None, -1, -1)


# --------------------------------------------------------------------------- SSF rules


def test_mechanisms_per_transport() -> None:
    tcp = SecurityProperties.insecure(56)
    secure = SecurityProperties.secure()
    assert permitted(SCRAM_SHA_256, secure) and permitted(GSSAPI, secure)
    assert not permitted(SCRAM_SHA_256, tcp) and permitted(GSSAPI, tcp)
    assert not permitted(GSSAPI, SecurityProperties.insecure(257))
    assert not permitted("DIGEST-MD5", secure)


def test_config_offers_like_libvirtd(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    PasswordFile.write(str(passwd), {"fred": ScramVerifier.make("pw")})
    cfg = SASLConfig(["scram-sha-256"], password_file=passwd)
    assert cfg.offered(cfg.properties(Transport.UNIX)) == ["SCRAM-SHA-256"]
    assert cfg.offered(cfg.properties(Transport.TLS)) == ["SCRAM-SHA-256"]
    assert cfg.offered(cfg.properties(Transport.TCP)) == []
    assert cfg.properties(Transport.TCP) == SecurityProperties(56, 100000)
    with pytest.raises(SASLConfigError, match="unsupported SASL mechanism 'digest-md5'"):
        SASLConfig(["digest-md5"], password_file=passwd)
    with pytest.raises(SASLConfigError, match="SCRAM-SHA-256 needs a password file"):
        SASLConfig(["scram-sha-256"])
    with pytest.raises(SASLConfigError, match="cannot read password file"):
        SASLConfig(["scram-sha-256"], password_file=tmp_path / "missing")


def test_allow_list_globs(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    PasswordFile.write(str(passwd), {})
    cfg = SASLConfig(password_file=passwd, allowed_usernames=["fred", "adm*", "u?", "[xy]z"])
    assert [cfg.allows(u) for u in ("fred", "admin", "u1", "xz", "Fred", "u12", "bob")] == [
        True, True, True, True, False, False, False
    ]
    assert SASLConfig(password_file=passwd).allows("anyone")
    assert not SASLConfig(password_file=passwd, allowed_usernames=[]).allows("fred")


def test_gssapi_layers_follow_cyrus() -> None:
    tcp, secure = SecurityProperties.insecure(56), SecurityProperties.secure()
    assert offered_layers(tcp) == Layer.CONFIDENTIALITY
    assert offered_layers(secure) == Layer.NONE
    assert offered_layers(SecurityProperties(0, 100000)) == Layer.NONE | Layer.INTEGRITY | (
        Layer.CONFIDENTIALITY
    )
    assert choose_layer(Layer(7), tcp) is Layer.CONFIDENTIALITY
    assert choose_layer(Layer(7), secure) is Layer.NONE
    assert choose_layer(Layer.NONE, tcp) is None
    assert choose_layer(Layer.INTEGRITY, tcp) is None


# --------------------------------------------------------------------------- SCRAM


def _scram_pair(password: str) -> tuple[ScramClient, ScramServer]:
    verifier = ScramVerifier.make("secret123")
    return ScramClient("fred", password), ScramServer({"fred": verifier}.get)


def test_scram_round_trip() -> None:
    client, server = _scram_pair("secret123")
    first = server.start(client.start())
    assert not first.complete and first.data is not None and b",i=4096" in first.data
    final = client.step(first.data)
    assert not final.complete
    done = server.step(final.data)
    assert done.complete and done.data is not None and done.data.startswith(b"v=")
    assert client.step(done.data) == (True, None)
    assert server.identity == "fred" and server.ssf == 0 and server.layer is None


def test_scram_without_initial_response_asks_for_it() -> None:
    client, server = _scram_pair("secret123")
    assert server.start(None) == (False, b"")
    first = server.step(client.start())
    assert not first.complete


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"n,,n=nobody,r=abcdefgh", "unknown user 'nobody'"),
        (b"garbage", "bad SCRAM client-first message"),
        (b"\xff\xfe", "not UTF-8"),
        (b"n,a=bob,n=fred,r=abc", "authzid must be empty"),
        (b"p=tls-unique,,n=fred,r=abc", "bad SCRAM client-first message"),
    ],
)
def test_scram_server_rejects(data: bytes, reason: str) -> None:
    _, server = _scram_pair("x")
    with pytest.raises(SASLAuthError, match=reason):
        server.start(data)


def test_scram_wrong_password_and_forged_server() -> None:
    client, server = _scram_pair("wrong")
    first = server.start(client.start())
    final = client.step(first.data)
    with pytest.raises(SASLAuthError, match="user 'fred': wrong password") as info:
        server.step(final.data)
    assert "wrong" not in str(info.value).replace("wrong password", "")
    # A client checks the server's signature: a server without the verifier is caught.
    client, server = _scram_pair("secret123")
    first = server.start(client.start())
    client.step(first.data)
    with pytest.raises(SASLAuthError, match="SCRAM"):
        client.step(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


# --------------------------------------------------------------------------- password files


def test_verifier_text_round_trip() -> None:
    verifier = ScramVerifier.make("pw", salt=b"0123456789abcdef0123456789abcdef")
    text = verifier.to_text()
    assert text.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=$")
    assert ScramVerifier.from_text(text) == verifier


def test_netrpc_passwd_add_change_delete(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    assert passwd_main([str(path), "fred"], stdin=io.StringIO("secret123\n")) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "secret123" not in text and text.count("\n") == 2
    first = PasswordFile(path).lookup("fred")
    assert passwd_main([str(path), "bob"], stdin=io.StringIO("pw")) == 0
    assert passwd_main([str(path), "fred"], stdin=io.StringIO("other\n")) == 0
    pf = PasswordFile(path)
    assert pf.users == ["fred", "bob"]
    assert pf.lookup("fred") != first
    assert passwd_main(["-d", str(path), "fred"]) == 0
    assert pf.users == ["bob"]  # re-read after the change
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_netrpc_passwd_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "passwd"
    assert passwd_main([str(path), "fred"], stdin=io.StringIO("")) == 1
    assert "netrpc-passwd: empty password" in capsys.readouterr().err
    assert passwd_main([str(path), "a:b"], stdin=io.StringIO("x")) == 1
    assert "invalid user name 'a:b'" in capsys.readouterr().err
    assert passwd_main(["-d", str(path), "fred"]) == 1
    assert not path.exists()
    path.write_text("fred:plaintext\n")
    assert passwd_main([str(path), "bob"], stdin=io.StringIO("x")) == 1
    assert f"{path}:1: not a SCRAM verifier" in capsys.readouterr().err
    with pytest.raises(PasswordFileError, match=f"{path}:1: not a SCRAM verifier"):
        PasswordFile(path)


# --------------------------------------------------------------------------- framing


class _XorLayer:
    """A toy layer: 'wraps' by xor and a 1-byte tag, to check framing only."""

    max_send = 5
    max_receive = 16

    def wrap(self, data: bytes) -> bytes:
        return b"T" + bytes(b ^ 0x55 for b in data)

    def unwrap(self, token: bytes) -> bytes:
        if token[:1] != b"T":
            raise SASLAuthError("bad tag")
        return bytes(b ^ 0x55 for b in token[1:])


def test_frames_split_anywhere() -> None:
    layer = _XorLayer()
    data = bytes(range(23))
    wire = b"".join(encode(layer, data))
    assert wire[:4] == b"\x00\x00\x00\x06" and len(wire) == 5 * 4 + 23 + 5
    for cut in range(len(wire)):
        decoder = FrameDecoder(layer)
        assert decoder.feed(wire[:cut]) + decoder.feed(wire[cut:]) == data
        assert decoder.buffered == 0


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x00\x00\x00\x00", "frame of 0 bytes"),
        (b"\x00\x00\x00\x11" + b"T" * 17, "frame of 17 bytes"),
        (b"\x00\x00\x00\x02Xa", "bad tag"),
    ],
)
def test_bad_frames(wire: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        FrameDecoder(_XorLayer()).feed(wire)
