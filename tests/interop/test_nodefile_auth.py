"""Node files with ``<auth>`` users side by side: opening one asks for credentials, which in
a daemon only its auth.conf can give (``LIBVIRT_AUTH_FILE`` here), and the test driver's
refusals when they are missing or wrong."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ._testvirtd import Testvirtd
from .peers import RealLibvirtd, short_workdir
from .test_nodefile import at, same

pytestmark = pytest.mark.interop

AUTH_CONF = """# service "test", host "localhost"
[credentials-good]
username=srinivasa
password=87539319

[auth-test-localhost]
credentials=good
"""

USERS = {
    "right": '<user password="87539319">srinivasa</user><user>marin</user>',
    "wrong password": '<user password="x">srinivasa</user>',
    "no password asked": "<user>srinivasa</user>",
    "unknown user": '<user password="87539319">marin</user>',
    "empty user": "<user/>",
    "none": "",
}


CONFS = {
    "auth.conf": AUTH_CONF,
    "no credentials item": "[auth-test-localhost]\nother=1\n",
    "no credentials group": "[auth-test-default]\ncredentials=gone\n",
    "other host only": "[auth-test-elsewhere]\ncredentials=x\n[credentials-x]\nusername=a\n",
    "missing file": None,
}


@pytest.mark.parametrize("conf_name", list(CONFS))
def test_node_file_auth(libvirtd_binary: str, virsh: str, conf_name: str) -> None:
    with tempfile.TemporaryDirectory(prefix="nodeauth-") as tmp:
        conf = Path(tmp) / "auth.conf"
        text = CONFS[conf_name]
        if text is not None:
            conf.write_text(text)
        env = {"LIBVIRT_AUTH_FILE": str(conf)}
        tvd = Testvirtd(env=env).start()
        try:
            with RealLibvirtd(short_workdir(Path(tmp) / "real"), env=env) as real:
                outputs = []
                for name, users in USERS.items():
                    node = Path(tmp) / f"{name.replace(' ', '-')}.xml"
                    node.write_text(f"<node><auth>{users}</auth></node>")
                    outputs.append(same(at(real, node), at(tvd, node), "list", "--all"))
        finally:
            tvd.stop()
    opened = [bool(out) for out in outputs]  # virsh lists (a header) once it connected
    assert opened == [conf_name == "auth.conf", False, conf_name == "auth.conf", False, False,
                      True]
