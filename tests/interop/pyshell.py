"""A libvirt-python session driven over stdin, for tests that act between client calls.

Run under the system python (python3-libvirt).  Each input line is a JSON object:

* ``{"op": "open", "uri": URI}``: (re)open the connection as ``conn``;
* ``{"op": "eval", "expr": EXPR}``: evaluate EXPR with ``conn``, ``dom`` (set by
  ``{"op": "eval", "expr": ..., "as": "dom"}``) and ``libvirt`` in scope.

Each gets one JSON line back: ``{"ok": true, "value": ..., "elapsed": s}`` or ``{"ok": false,
"code": ..., "domain": ..., "message": ..., "elapsed": s}``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import libvirt  # type: ignore[import-not-found]


def plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return repr(value)


def main() -> int:
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()
    scope: dict[str, Any] = {"libvirt": libvirt, "conn": None, "dom": None}
    for line in sys.stdin:
        request = json.loads(line)
        start = time.monotonic()
        try:
            if request["op"] == "open":
                scope["conn"] = libvirt.open(request["uri"])
                value: Any = None
            else:
                value = eval(request["expr"], scope)
                if "as" in request:
                    scope[request["as"]] = value
                    value = None
            out = {"ok": True, "value": plain(value)}
        except libvirt.libvirtError as exc:
            out = {"ok": False, "code": exc.get_error_code(), "domain": exc.get_error_domain(),
                   "message": exc.get_error_message()}
        out["elapsed"] = time.monotonic() - start
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
