"""The kvstore client API in a nutshell.  Start the daemon first (``kvstored``), then:

python3 examples/kvstore_demo.py [URL]      # default: the daemon's default socket
"""

import sys

import anyio

from daemons.kvstore.client import KVClient
from netrpc import RPCError


async def main(url: str | None) -> None:
    async with KVClient.connect(url) as kv:
        print("put -> revision", await kv.put("demo/greeting", "hello"))  # worker thread
        print("get ->", await kv.get("demo/greeting"))  # inline: answered from memory
        print("list ->", await kv.list("demo/"))
        try:
            await kv.get("demo/missing")
        except RPCError as err:  # code 1000 (NO_KEY), domain 100
            print(f"error {err.code}: {err.message}")

        async def waiter() -> None:  # async on the daemon: waits without blocking anyone
            print("waited ->", await kv.wait_for_key("demo/late", timeout=5))

        async with kv.watch("demo/") as events:
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.sleep(0.1)
                await kv.put("demo/late", b"finally")
            await kv.delete("demo/late")
            for _ in range(2):
                event = await events.receive()
                print("event:", event.kind.name, event.key, event.value, event.revision)
        print("stats ->", await kv.stats())


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else None)
