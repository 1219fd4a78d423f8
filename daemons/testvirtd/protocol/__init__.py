"""libvirt 9.0's REMOTE, QEMU and LXC programs: every type and every procedure.

The facts live in this package's data files, compiled with :mod:`netrpc.core.xdrlang` when first
needed: ``remote.x``, ``qemu.x`` and ``lxc.x`` (the types, in XDR language, names without
their ``remote_``/``qemu_``/``lxc_`` prefix) and ``procedures.txt`` (one procedure a line:
number, name, argument and result types, flags, API).

What this module offers:

* every struct as a class named in CamelCase from its ``.x`` name without the prefix
  (``remote_domain_get_info_ret`` -> :class:`DomainGetInfoRet`), fields named as in the
  ``.x`` file, built with positional or keyword arguments in field order; classes are built
  on first access, so importing this module stays cheap;
* every constant of the texts (``STRING_MAX``, ``DOMAIN_LIST_MAX`` ...);
* :data:`PROCS`, :data:`QEMU_PROCS`, :data:`LXC_PROCS`: the procedures of each program as
  :class:`netrpc.core.program.Declaration` objects keyed by name without the program prefix
  (``PROCS["DOMAIN_GET_INFO"]``), also by number (``PROCS[16]``);
* :func:`xdr_type` for typedefs and unions (``xdr_type("typed_param_value")``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

from netrpc.core import xdr
from netrpc.core.program import Declaration, DeclarationTable
from netrpc.core.xdrlang import XdrSpec, compile_xdr

__all__ = (
    "LXC_PROCS",
    "LXC_PROGRAM",
    "PROCS",
    "PROGRAMS",
    "QEMU_PROCS",
    "QEMU_PROGRAM",
    "REMOTE_PROGRAM",
    "ProgramTable",
    "spec",
    "struct_names",
    "xdr_type",
)

REMOTE_PROGRAM: Final = 0x20008086
QEMU_PROGRAM: Final = 0x20008087
LXC_PROGRAM: Final = 0x00068000

_HERE = Path(__file__).parent
_FLAGS: Final = frozenset({"prio", "ro", "noauth", "readstream", "writestream"})


@cache
def spec(program: str = "REMOTE") -> XdrSpec:
    """The compiled XDR text of *program* (``"REMOTE"``, ``"QEMU"`` or ``"LXC"``)."""
    imports = () if program == "REMOTE" else (spec("REMOTE"),)
    text = (_HERE / f"{program.lower()}.x").read_text()
    return compile_xdr(text, imports=imports, module=__name__)


class ProgramTable:
    """One program of ``procedures.txt``: its number, version and declarations."""

    def __init__(self, name: str, number: int, version: int, procs: DeclarationTable) -> None:
        self.name = name
        self.number = number
        self.version = version
        self.procs = procs

    def __repr__(self) -> str:
        return f"ProgramTable({self.name}, {self.number:#x}, {len(self.procs)} procedures)"


def _parse_procedures() -> dict[str, ProgramTable]:
    tables: dict[str, ProgramTable] = {}
    current: tuple[str, int, int] | None = None
    decls: list[Declaration] = []

    def close() -> None:
        if current is not None:
            tables[current[0]] = ProgramTable(*current, DeclarationTable(decls))

    for lineno, raw in enumerate((_HERE / "procedures.txt").read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            close()
            name, number, version, _ = line.strip("[]").split()
            current = (name, int(number, 0), int(version))
            decls = []
            continue
        if current is None:
            raise ValueError(f"procedures.txt:{lineno}: procedure outside a [PROGRAM] section")
        try:
            number, pname, args, ret, flags, api = line.split()
        except ValueError:
            raise ValueError(f"procedures.txt:{lineno}: expected 6 columns") from None
        flag_set = set() if flags == "-" else set(flags.split(","))
        if not flag_set <= _FLAGS:
            raise ValueError(f"procedures.txt:{lineno}: unknown flags {flag_set - _FLAGS}")
        program_spec = spec(current[0])
        low = pname.lower()
        args_name = {"args": f"{low}_args", "msg": f"{low}_msg", "-": None}.get(args, args)
        ret_name = {"ret": f"{low}_ret", "-": None}.get(ret, ret)
        stream: Literal["read", "write"] | None = (
            "read" if "readstream" in flag_set else "write" if "writestream" in flag_set else None
        )
        decls.append(
            Declaration(
                number=int(number),
                name=pname,
                args=program_spec.procedure_type(args_name),
                ret=program_spec.procedure_type(ret_name),
                priority="prio" in flag_set,
                readonly="ro" in flag_set,
                auth="noauth" not in flag_set,
                stream=stream,
                api=None if api == "-" else api,
                event=args == "msg",
            )
        )
    close()
    return tables


#: every program of procedures.txt by name ("REMOTE", "QEMU", "LXC")
PROGRAMS: Final = _parse_procedures()
#: REMOTE procedures by name without ``REMOTE_PROC_`` (and by number)
PROCS: Final = PROGRAMS["REMOTE"].procs
#: QEMU procedures by name without ``QEMU_PROC_``
QEMU_PROCS: Final = PROGRAMS["QEMU"].procs
#: LXC procedures by name without ``LXC_PROC_``
LXC_PROCS: Final = PROGRAMS["LXC"].procs


@cache
def _names() -> dict[str, tuple[str, str]]:
    """Python name -> (program, XDR name) for structs; constants map to ("", name)."""
    out: dict[str, tuple[str, str]] = {}
    for program in ("REMOTE", "QEMU", "LXC"):
        s = spec(program)
        for xname, decl in s.declarations.items():
            if type(decl).__name__ != "StructDecl":
                continue
            pyname = s.python_name(xname)
            if pyname in out:
                raise TypeError(f"{pyname} is declared by two programs")
            out[pyname] = (program, xname)
    return out


def struct_names() -> list[str]:
    """The class names of every struct of the three programs."""
    return list(_names())


def xdr_type(name: str, program: str = "REMOTE") -> xdr.XdrType[Any]:
    """The XDR type declared as *name* in *program*'s text (typedefs and unions too)."""
    return spec(program).type(name)


def __getattr__(name: str) -> Any:
    found = _names().get(name)
    if found is not None:
        cls = spec(found[0]).cls(found[1])
        globals()[name] = cls
        return cls
    constants = spec("REMOTE").constants
    if name in constants:
        return constants[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_names(), *spec("REMOTE").constants})
