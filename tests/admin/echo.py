"""A small program for the admin tests: echo, a pending async call, a blocking call."""

from __future__ import annotations

import time
from typing import Annotated

import anyio

from netrpc import Call, Program, procedure
from netrpc.core import xdr

ECHO_PROGRAM = 0x20240AD0


@xdr.struct
class Text:
    text: Annotated[str, xdr.String(4096)]


@xdr.struct
class Seconds:
    seconds: xdr.Double


class EchoProgram(Program):
    """Procedures: 1 echo (inline), 2 wait (async), 3 block (worker thread)."""

    number = ECHO_PROGRAM
    version = 1

    @procedure(1, args=Text, ret=Text, inline=True)
    def echo(self, call: Call, args: Text) -> Text:
        return Text(args.text)

    @procedure(2, args=Seconds)
    async def wait(self, call: Call, args: Seconds) -> None:
        await anyio.sleep(args.seconds)

    @procedure(3, args=Seconds)
    def block(self, call: Call, args: Seconds) -> None:
        time.sleep(args.seconds)
