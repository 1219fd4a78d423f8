"""albatross's client wire, version 0, as a netrpc :class:`~netrpc.core.wire.Wire`.

Every message is an 8-byte header and a body::

    u16 length   of the body (the header is not counted)
    u16 id       chosen by the client for a command and repeated in its reply;
                 0 marks a message the daemon sends on its own (console output)
    u16 version  0
    u16 tag      a command (0 info, 1 destroy, 5 attach console, 6 detach console), or in
                 a reply 0xFFFF success, 0xFFFE failure, 0xFFF3 info, 0xFFF0 console output

Strings are a u16 length and the bytes.  A command carries an optional string (a VM's name);
a success or failure reply an optional message.  netrpc sees a command as a CALL of
procedure *tag* of program :data:`VMM_PROGRAM` with serial *id*, a reply as a REPLY (status
ERROR for 0xFFFE), a message with id 0 as an event of procedure *tag*.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from netrpc import RPCError
from netrpc.core.errors import LocalProtocolError
from netrpc.core.framing import Framing
from netrpc.core.protocol import MessageStatus, MessageType
from netrpc.core.state import Role
from netrpc.core.wire import HeaderFields, Wire
from netrpc.core.xdr import XdrError, XdrType

__all__ = (
    "ATTACH",
    "CONSOLE",
    "DESTROY",
    "DETACH",
    "FAILURE",
    "INFO",
    "INFO_REPLY",
    "SUCCESS",
    "VERSION",
    "VMM_PROGRAM",
    "VMM_WIRE",
    "ConsoleLine",
    "ConsoleLineCodec",
    "OptionalString",
    "VmInfo",
    "VmInfoList",
    "VmmWire",
    "decode_string",
    "encode_string",
)

#: the program number netrpc files the wire's commands under (the wire has none)
VMM_PROGRAM: Final = 0x766D6D30  # "vmm0"
#: the wire version spoken
VERSION: Final = 0

# Commands (tags of a client's messages).
INFO: Final = 0
DESTROY: Final = 1
ATTACH: Final = 5
DETACH: Final = 6

# Tags of the daemon's messages.
SUCCESS: Final = 0xFFFF
FAILURE: Final = 0xFFFE
INFO_REPLY: Final = 0xFFF3
CONSOLE: Final = 0xFFF0

#: the largest body the u16 length word allows
BODY_MAX: Final = 0xFFFF

_HEAD = struct.Struct(">HHH")  # id, version, tag (after the length word)
_RECORD = struct.Struct(">HHHH")  # length, id, version, tag
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

_CALL = int(MessageType.CALL)
_REPLY = int(MessageType.REPLY)
_MESSAGE = int(MessageType.MESSAGE)
_OK = int(MessageStatus.OK)
_ERROR = int(MessageStatus.ERROR)


def encode_string(text: str | bytes) -> bytes:
    """A string on the wire: u16 length, then the bytes (UTF-8 for text)."""
    data = text.encode() if isinstance(text, str) else text
    if len(data) > BODY_MAX:
        raise XdrError(f"string of {len(data)} bytes is too long (at most {BODY_MAX})")
    return _U16.pack(len(data)) + data


def decode_string(data: bytes | memoryview, offset: int = 0) -> tuple[str, int]:
    """The string at *offset* and the offset after it.

    :raises XdrError: when it is cut short or not UTF-8.
    """
    if len(data) - offset < 2:
        raise XdrError("string length cut short", offset=offset)
    (length,) = _U16.unpack_from(data, offset)
    end = offset + 2 + length
    if end > len(data):
        raise XdrError(f"string of {length} bytes cut short", offset=offset)
    try:
        return bytes(data[offset + 2 : end]).decode(), end
    except UnicodeDecodeError:
        raise XdrError("string is not UTF-8", offset=offset) from None


class OptionalString(XdrType["str | None"]):
    """A body that is empty or one string (a command's VM name, a reply's message)."""

    def pack(self, out: bytearray, value: str | None) -> None:
        if value is not None:
            out += encode_string(value)

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[str | None, int]:
        if offset == len(data):
            return None, offset
        return decode_string(data, offset)


@dataclass(frozen=True, slots=True, kw_only=True)
class VmInfo:
    """One VM in an info reply: its name, command line, process id and tap devices."""

    name: str
    cmdline: str
    pid: int
    taps: tuple[str, ...] = ()


class VmInfoList(XdrType[list[VmInfo]]):
    """The body of an info reply: VM records one after the other, each a name, a command
    line, a u32 pid, a u64 byte count and that many bytes of tap names (strings)."""

    def pack(self, out: bytearray, value: list[VmInfo]) -> None:
        for vm in value:
            taps = b"".join(encode_string(tap) for tap in vm.taps)
            out += encode_string(vm.name)
            out += encode_string(vm.cmdline)
            out += _U32.pack(vm.pid)
            out += _U64.pack(len(taps))
            out += taps

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[list[VmInfo], int]:
        vms = []
        while offset < len(data):
            name, offset = decode_string(data, offset)
            cmdline, offset = decode_string(data, offset)
            if len(data) - offset < 12:
                raise XdrError("VM record cut short", offset=offset)
            (pid,) = _U32.unpack_from(data, offset)
            (count,) = _U64.unpack_from(data, offset + 4)
            offset += 12
            end = offset + count
            if end > len(data):
                raise XdrError(f"{count} bytes of tap names cut short", offset=offset)
            taps = []
            while offset < end:
                tap, offset = decode_string(data[:end], offset)
                taps.append(tap)
            vms.append(VmInfo(name=name, cmdline=cmdline, pid=pid, taps=tuple(taps)))
        return vms, offset


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleLine:
    """Console output of a VM: its name and the bytes of one line."""

    name: str
    line: bytes


class ConsoleLineCodec(XdrType[ConsoleLine]):
    """The body of a console message: the VM's name as a string, then the line's bytes as
    the rest of the body."""

    def pack(self, out: bytearray, value: ConsoleLine) -> None:
        out += encode_string(value.name)
        out += value.line

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[ConsoleLine, int]:
        name, offset = decode_string(data, offset)
        return ConsoleLine(name=name, line=bytes(data[offset:])), len(data)


class VmmWire(Wire):
    """The wire: u16 body length (not counting the header), then id, version and tag."""

    name = "vmm_wire"
    framing = Framing(
        length_format=">H", length_includes_prefix=False, min_length=0, max_length=BODY_MAX,
        uncounted=_HEAD.size,
    )
    header_size = _HEAD.size
    keepalive = False
    fd_passing = False
    replies_echo_call = False  # a reply says success or failure, not which command
    serial_bits = 16
    reserved_serials = frozenset({0})  # id 0 marks the daemon's own messages

    #: the tag of the success reply of each command that is not plain SUCCESS
    REPLY_TAGS: Final = {INFO: INFO_REPLY}

    def header_reader(self, role: Role) -> Callable[[bytes], HeaderFields]:
        unpack = _HEAD.unpack
        if role is Role.SERVER:
            def read_command(raw: bytes) -> HeaderFields:
                ident, version, tag = unpack(raw)
                return VMM_PROGRAM, version, tag, _CALL, ident, _OK

            return read_command

        def read_reply(raw: bytes) -> HeaderFields:
            ident, version, tag = unpack(raw)
            if ident == 0:
                return VMM_PROGRAM, version, tag, _MESSAGE, 0, _OK
            return VMM_PROGRAM, version, tag, _REPLY, ident, _ERROR if tag == FAILURE else _OK

        return read_reply

    def header_writer(self, role: Role) -> Callable[[int, HeaderFields], bytes]:
        pack = _RECORD.pack
        reply_tags = self.REPLY_TAGS

        def write(length: int, fields: HeaderFields) -> bytes:
            _program, version, procedure, mtype, serial, status = fields
            if length > BODY_MAX:
                raise LocalProtocolError(f"a body of {length} bytes does not fit the wire")
            if mtype == _CALL:
                return pack(length, serial, version, procedure)
            if mtype == _REPLY:
                tag = FAILURE if status == _ERROR else reply_tags.get(procedure, SUCCESS)
                return pack(length, serial, version, tag)
            if mtype == _MESSAGE:
                return pack(length, 0, version, procedure)
            raise LocalProtocolError(f"the vmm wire has no messages of type {mtype}")

        return write

    def encode_error(self, error: RPCError) -> bytes:
        return encode_string(error.message) if error.message else b""

    def decode_error(self, payload: bytes) -> RPCError:
        try:
            message, _ = OptionalString().unpack(payload, 0)
        except XdrError:
            message = None
        return RPCError.rpc(message or "command failed")


#: the wire, for services and clients
VMM_WIRE: Final = VmmWire()
