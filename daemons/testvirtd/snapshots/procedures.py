"""REMOTE procedures of domain snapshots and checkpoints (see :mod:`.model`).

Each handler first makes the checks libvirt's public API makes on libvirtd's side (read-only
connections, mutually exclusive flags, the secure flag on read-only connections), in its
order and words, then asks the model.  Snapshots and checkpoints travel as their name plus
the domain handle the caller sent, as libvirtd returns them.
"""

from __future__ import annotations

from typing import Any, Final

from netrpc import Call, ErrorCode, ErrorDomain, RPCError

from .. import bounds
from .. import protocol as P
from ..connection import RemoteBase
from ..domains.procedures import dom_ref
from ..domxml import VirtError
from ..hypervisor import Hypervisor
from .defs import ERR_FROM_CHECKPOINT, ERR_FROM_SNAPSHOT
from .model import C, S

__all__ = ("SnapshotProcedures",)

#: REMOTE_DOMAIN_SNAPSHOT_LIST_MAX
LIST_MAX: Final = 16384


def _exclusive(api: str, flags: int, first: tuple[int, str], second: tuple[int, str],
               domain: int) -> None:
    """``VIR_EXCLUSIVE_FLAGS_GOTO`` in the public API *api*."""
    if flags & first[0] and flags & second[0]:
        raise VirtError.api_invalid_arg(
            domain, api, "ctl", f"Flags '{first[1]}' and '{second[1]}' are mutually exclusive")


def _requires(api: str, flags: int, flag: tuple[int, str], required: tuple[int, str],
              domain: int) -> None:
    """``VIR_REQUIRE_FLAG_GOTO`` in the public API *api*: *flag* needs *required*."""
    if flags & flag[0] and not flags & required[0]:
        raise VirtError.api_invalid_arg(
            domain, api, "ctl", f"Flag '{required[1]}' is required by flag '{flag[1]}'")


def _secure_denied(api: str, domain: int) -> RPCError:
    return RPCError.formatted(ErrorCode.OPERATION_DENIED, domain, "operation forbidden: %s",
                              f"{api} with secure flag")


def _non_negative(value: int, arg: str, api: str, domain: int) -> None:
    """``virCheckNonNegativeArgGoto``."""
    if value < 0:
        raise VirtError.api_invalid_arg(domain, api, arg,
                                        f"{arg} in {api} must be zero or greater")


def _max_names(maxnames: int) -> None:
    bounds.at_most(maxnames, LIST_MAX, "maxnames > REMOTE_DOMAIN_SNAPSHOT_LIST_MAX", rpc=True)


def _names_reply(names: list[str], maxnames: int) -> list[str]:
    """The names libvirtd can send back for *maxnames*: libvirt's list functions count every
    match but fill only *maxnames* slots, and libvirtd 9.0 then fails to encode its reply
    (with no slot at all it crashes; testvirtd answers the same error)."""
    if len(names) > maxnames:
        raise RPCError.formatted(ErrorCode.RPC, ErrorDomain.RPC, "%s",
                                 "Unable to encode message payload")
    return names


def _snap(name: str, dom: Any) -> Any:
    return P.NonnullDomainSnapshot(name, dom)


def _chk(name: str, dom: Any) -> Any:
    return P.NonnullDomainCheckpoint(name, dom)


_REDEFINE = (S.CREATE_REDEFINE, "VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE")
_CURRENT = (S.CREATE_CURRENT, "VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT")
_NO_METADATA = (S.CREATE_NO_METADATA, "VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA")
_HALT = (S.CREATE_HALT, "VIR_DOMAIN_SNAPSHOT_CREATE_HALT")
_REVERT_RUNNING = (S.REVERT_RUNNING, "VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING")
_REVERT_PAUSED = (S.REVERT_PAUSED, "VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED")
_DELETE_CHILDREN = (S.DELETE_CHILDREN, "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN")
_DELETE_CHILDREN_ONLY = (S.DELETE_CHILDREN_ONLY, "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY")
_C_REDEFINE = (C.CREATE_REDEFINE, "VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE")
_C_QUIESCE = (C.CREATE_QUIESCE, "VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE")
_C_REDEFINE_VALIDATE = (C.CREATE_REDEFINE_VALIDATE,
                        "VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE")
_C_DELETE_CHILDREN = (C.DELETE_CHILDREN, "VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN")
_C_DELETE_CHILDREN_ONLY = (C.DELETE_CHILDREN_ONLY,
                           "VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY")


class SnapshotProcedures(RemoteBase):
    """Snapshot and checkpoint procedures of the REMOTE program."""

    def _hv(self, call: Call) -> Hypervisor:
        return self.opened(call).hv

    # ============================================================== snapshots

    def domain_snapshot_create_xml(self, call: Call, args: Any) -> Any:
        hv = self.writable(call, "virDomainSnapshotCreateXML").hv
        flags = args.flags
        api = "virDomainSnapshotCreateXML"
        _requires(api, flags, _CURRENT, _REDEFINE, ERR_FROM_SNAPSHOT)
        _exclusive(api, flags, _REDEFINE, _NO_METADATA, ERR_FROM_SNAPSHOT)
        _exclusive(api, flags, _REDEFINE, _HALT, ERR_FROM_SNAPSHOT)
        name = hv.snapshots.create_xml(dom_ref(args.dom), args.xml_desc, flags)
        self.changed(call)
        return P.DomainSnapshotCreateXmlRet(_snap(name, args.dom))

    def domain_snapshot_get_xml_desc(self, call: Call, args: Any) -> Any:
        st = self.opened(call)
        if st.readonly and args.flags & S.XML_SECURE:
            raise _secure_denied("virDomainSnapshotGetXMLDesc", ERR_FROM_SNAPSHOT)
        dom = dom_ref(args.snap.dom)
        xml = st.hv.snapshots.get_xml_desc(dom, args.snap.name, args.flags, dom.uuid_str)
        return P.DomainSnapshotGetXmlDescRet(xml)

    def domain_snapshot_num(self, call: Call, args: Any) -> Any:
        return P.DomainSnapshotNumRet(self._hv(call).snapshots.num(dom_ref(args.dom),
                                                                   args.flags))

    def domain_snapshot_list_names(self, call: Call, args: Any) -> Any:
        hv = self._hv(call)
        _max_names(args.maxnames)
        _non_negative(args.maxnames, "nameslen", "virDomainSnapshotListNames",
                      ERR_FROM_SNAPSHOT)
        names = hv.snapshots.list_names(dom_ref(args.dom), args.flags)
        return P.DomainSnapshotListNamesRet(_names_reply(names, args.maxnames))

    def domain_list_all_snapshots(self, call: Call, args: Any) -> Any:
        names = self._hv(call).snapshots.list_names(
            dom_ref(args.dom), args.flags, function="testDomainListAllSnapshots")
        wire = [_snap(n, args.dom) for n in names] if args.need_results else []
        return P.DomainListAllSnapshotsRet(wire, len(names))

    def domain_snapshot_num_children(self, call: Call, args: Any) -> Any:
        names = self._hv(call).snapshots.list_children(
            dom_ref(args.snap.dom), args.snap.name, args.flags,
            function="testDomainSnapshotNumChildren")
        return P.DomainSnapshotNumChildrenRet(len(names))

    def domain_snapshot_list_children_names(self, call: Call, args: Any) -> Any:
        hv = self._hv(call)
        _max_names(args.maxnames)
        _non_negative(args.maxnames, "nameslen", "virDomainSnapshotListChildrenNames",
                      ERR_FROM_SNAPSHOT)
        names = hv.snapshots.list_children(dom_ref(args.snap.dom), args.snap.name, args.flags)
        return P.DomainSnapshotListChildrenNamesRet(_names_reply(names, args.maxnames))

    def domain_snapshot_list_all_children(self, call: Call, args: Any) -> Any:
        names = self._hv(call).snapshots.list_children(
            dom_ref(args.snapshot.dom), args.snapshot.name, args.flags,
            function="testDomainSnapshotListAllChildren")
        dom = args.snapshot.dom
        wire = [_snap(n, dom) for n in names] if args.need_results else []
        return P.DomainSnapshotListAllChildrenRet(wire, len(names))

    def domain_snapshot_lookup_by_name(self, call: Call, args: Any) -> Any:
        name = self._hv(call).snapshots.lookup_by_name(dom_ref(args.dom), args.name,
                                                       args.flags)
        return P.DomainSnapshotLookupByNameRet(_snap(name, args.dom))

    def domain_has_current_snapshot(self, call: Call, args: Any) -> Any:
        result = self._hv(call).snapshots.has_current(dom_ref(args.dom), args.flags)
        return P.DomainHasCurrentSnapshotRet(int(result))

    def domain_snapshot_get_parent(self, call: Call, args: Any) -> Any:
        name = self._hv(call).snapshots.get_parent(dom_ref(args.snap.dom), args.snap.name,
                                                   args.flags)
        return P.DomainSnapshotGetParentRet(_snap(name, args.snap.dom))

    def domain_snapshot_current(self, call: Call, args: Any) -> Any:
        name = self._hv(call).snapshots.current(dom_ref(args.dom), args.flags)
        return P.DomainSnapshotCurrentRet(_snap(name, args.dom))

    def domain_snapshot_is_current(self, call: Call, args: Any) -> Any:
        result = self._hv(call).snapshots.is_current(dom_ref(args.snap.dom), args.snap.name,
                                                     args.flags)
        return P.DomainSnapshotIsCurrentRet(int(result))

    def domain_snapshot_has_metadata(self, call: Call, args: Any) -> Any:
        result = self._hv(call).snapshots.has_metadata(dom_ref(args.snap.dom),
                                                       args.snap.name, args.flags)
        return P.DomainSnapshotHasMetadataRet(int(result))

    def domain_revert_to_snapshot(self, call: Call, args: Any) -> None:
        hv = self.writable(call, "virDomainRevertToSnapshot").hv
        _exclusive("virDomainRevertToSnapshot", args.flags, _REVERT_RUNNING, _REVERT_PAUSED,
                   ERR_FROM_SNAPSHOT)
        hv.snapshots.revert(dom_ref(args.snap.dom), args.snap.name, args.flags)
        self.changed(call)

    def domain_snapshot_delete(self, call: Call, args: Any) -> None:
        hv = self.writable(call, "virDomainSnapshotDelete").hv
        _exclusive("virDomainSnapshotDelete", args.flags, _DELETE_CHILDREN,
                   _DELETE_CHILDREN_ONLY, ERR_FROM_SNAPSHOT)
        hv.snapshots.delete(dom_ref(args.snap.dom), args.snap.name, args.flags)
        self.changed(call)

    # ============================================================== checkpoints

    def domain_checkpoint_create_xml(self, call: Call, args: Any) -> Any:
        hv = self.writable(call, "virDomainCheckpointCreateXML").hv
        flags = args.flags
        api = "virDomainCheckpointCreateXML"
        _exclusive(api, flags, _C_REDEFINE, _C_QUIESCE, ERR_FROM_CHECKPOINT)
        _requires(api, flags, _C_REDEFINE_VALIDATE, _C_REDEFINE, ERR_FROM_CHECKPOINT)
        name = hv.snapshots.checkpoint_create_xml(dom_ref(args.dom), args.xml_desc, flags)
        self.changed(call)
        return P.DomainCheckpointCreateXmlRet(_chk(name, args.dom))

    def domain_checkpoint_get_xml_desc(self, call: Call, args: Any) -> Any:
        st = self.opened(call)
        if st.readonly and args.flags & C.XML_SECURE:
            raise _secure_denied("virDomainCheckpointGetXMLDesc", ERR_FROM_CHECKPOINT)
        chk = args.checkpoint
        xml = st.hv.snapshots.checkpoint_get_xml_desc(dom_ref(chk.dom), chk.name, args.flags)
        return P.DomainCheckpointGetXmlDescRet(xml)

    def domain_list_all_checkpoints(self, call: Call, args: Any) -> Any:
        names = self._hv(call).snapshots.list_checkpoints(dom_ref(args.dom), args.flags)
        wire = [_chk(n, args.dom) for n in names] if args.need_results else []
        return P.DomainListAllCheckpointsRet(wire, len(names))

    def domain_checkpoint_list_all_children(self, call: Call, args: Any) -> Any:
        chk = args.checkpoint
        names = self._hv(call).snapshots.list_checkpoint_children(dom_ref(chk.dom), chk.name,
                                                                  args.flags)
        wire = [_chk(n, chk.dom) for n in names] if args.need_results else []
        return P.DomainCheckpointListAllChildrenRet(wire, len(names))

    def domain_checkpoint_lookup_by_name(self, call: Call, args: Any) -> Any:
        name = self._hv(call).snapshots.checkpoint_lookup_by_name(dom_ref(args.dom),
                                                                  args.name, args.flags)
        return P.DomainCheckpointLookupByNameRet(_chk(name, args.dom))

    def domain_checkpoint_get_parent(self, call: Call, args: Any) -> Any:
        chk = args.checkpoint
        name = self._hv(call).snapshots.checkpoint_get_parent(dom_ref(chk.dom), chk.name,
                                                              args.flags)
        return P.DomainCheckpointGetParentRet(_chk(name, chk.dom))

    def domain_checkpoint_delete(self, call: Call, args: Any) -> None:
        hv = self.writable(call, "virDomainCheckpointDelete").hv
        _exclusive("virDomainCheckpointDelete", args.flags, _C_DELETE_CHILDREN,
                   _C_DELETE_CHILDREN_ONLY, ERR_FROM_CHECKPOINT)
        chk = args.checkpoint
        hv.snapshots.checkpoint_delete(dom_ref(chk.dom), chk.name, args.flags)
        self.changed(call)
