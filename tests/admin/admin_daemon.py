"""A tiny netrpc daemon with an admin socket, run as a subprocess by the admin tests.

    python -m tests.admin.admin_daemon --dir DIR [--config FILE] [--tcp]

It serves EchoProgram as server "testvirtd" on DIR/sock (and on a loopback TCP port with
--tcp), enables admin on DIR/admin-sock, reloads FILE on SIGHUP, and prints one JSON line
with its endpoints once it accepts connections.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial

import anyio

from netrpc import Daemon, Server, Service
from netrpc.admin.config import DaemonConfig, apply_runtime, load_config
from netrpc.admin.logconfig import LogConfig
from netrpc.admin.program import enable_admin

from .echo import EchoProgram


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--config")
    parser.add_argument("--tcp", action="store_true")
    opts = parser.parse_args(argv)
    config = load_config(opts.config) if opts.config else DaemonConfig()
    log_config = LogConfig.default()
    log_config.configure(
        priority=config.log_level, outputs=config.log_outputs, filters=config.log_filters
    )
    server = Server("testvirtd", [EchoProgram()], **config.server_options())
    server.add_service(Service.unix(os.path.join(opts.dir, "sock"), mode=0o600))
    if opts.tcp:
        server.add_service(Service.tcp("127.0.0.1", 0))

    async def reload() -> None:
        if opts.config:
            apply_runtime(load_config(opts.config), daemon, log_config=log_config)

    daemon = Daemon([server], on_reload=reload)
    enable_admin(
        daemon,
        os.path.join(opts.dir, "admin-sock"),
        log_config=log_config,
        **config.admin_options(),
    )
    async with anyio.create_task_group() as tg:
        addresses = await tg.start(daemon.run)
        tcp = [a[1] for a in addresses["testvirtd"] if isinstance(a, tuple)]
        info = {
            "pid": os.getpid(),
            "unix": os.path.join(opts.dir, "sock"),
            "admin": os.path.join(opts.dir, "admin-sock"),
            "tcp": tcp[0] if tcp else None,
        }
        print(json.dumps(info), flush=True)


if __name__ == "__main__":
    anyio.run(partial(main, sys.argv[1:]))
