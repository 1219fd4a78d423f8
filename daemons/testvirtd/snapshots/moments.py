"""The tree of a domain's snapshots or checkpoints ("moments"), kept as libvirt keeps it.

libvirt links each moment to its parent and keeps every parent's children in a singly linked
list, the newest first; a hidden *metaroot* is the parent of the roots.  Listings walk that
structure, so their order is libvirt's: children newest first, descendants depth first.  The
one exception is a listing of every moment without ``TOPOLOGICAL``: libvirt walks its hash
table, whose order depends on a hash seed drawn at random when libvirtd starts; here it is
the order the moments were added in.

Flags are libvirt's common moment flags (``VIR_DOMAIN_MOMENT_LIST_*``): the snapshot and
checkpoint models translate their public flags into these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from ..domxml import ErrCode, ErrDomain, VirtError

__all__ = (
    "LIST_DESCENDANTS",
    "LIST_LEAVES",
    "LIST_METADATA",
    "LIST_NO_LEAVES",
    "LIST_NO_METADATA",
    "LIST_ROOTS",
    "LIST_TOPOLOGICAL",
    "Moment",
    "MomentList",
)

LIST_ROOTS: Final = 1 << 0
LIST_DESCENDANTS: Final = 1 << 0
LIST_TOPOLOGICAL: Final = 1 << 1
LIST_LEAVES: Final = 1 << 2
LIST_NO_LEAVES: Final = 1 << 3
LIST_METADATA: Final = 1 << 4
LIST_NO_METADATA: Final = 1 << 5

_FILTERS_METADATA: Final = LIST_METADATA | LIST_NO_METADATA


class Moment:
    """One snapshot or checkpoint in the tree; ``defn`` is its definition (None for the
    metaroot).  A definition has ``name`` and ``parent_name`` attributes."""

    __slots__ = ("defn", "first_child", "nchildren", "parent", "sibling")

    def __init__(self, defn: Any) -> None:
        self.defn = defn
        self.parent: Moment | None = None
        self.first_child: Moment | None = None
        self.sibling: Moment | None = None
        self.nchildren = 0

    @property
    def name(self) -> str:
        """The moment's name."""
        return str(self.defn.name)

    def children(self) -> Iterator[Moment]:
        """The direct children, newest first (safe against removing the one yielded)."""
        child = self.first_child
        while child is not None:
            following = child.sibling
            yield child
            child = following

    def descendants(self) -> Iterator[Moment]:
        """Every descendant, depth first: a child, its descendants, then the next child."""
        for child in self.children():
            grandchildren = child.first_child
            yield child
            if grandchildren is not None:
                # libvirt walks a copy of the child, so removing it while walking is safe
                holder = Moment(None)
                holder.first_child = grandchildren
                yield from holder.descendants()

    def drop_parent(self) -> None:
        """Unlink from the parent's list of children (before a reparent or removal)."""
        parent = self.parent
        if parent is None:
            return
        parent.nchildren -= 1
        prev: Moment | None = None
        cur = parent.first_child
        while cur is not self:
            if cur is None:
                return  # inconsistent relations: libvirt only warns
            prev, cur = cur, cur.sibling
        if prev is not None:
            prev.sibling = self.sibling
        else:
            parent.first_child = self.sibling
        self.sibling = None
        self.parent = None

    def drop_children(self) -> None:
        """Forget every child (they are being removed)."""
        self.nchildren = 0
        self.first_child = None

    def set_parent(self, parent: Moment) -> None:
        """Become the newest child of *parent*."""
        self.parent = parent
        parent.nchildren += 1
        self.sibling = parent.first_child
        parent.first_child = self

    def move_children(self, to: Moment) -> None:
        """Make every child of this moment a child of *to*, ahead of *to*'s own."""
        if not self.nchildren:
            return
        child = self.first_child
        while child is not None:
            child.parent = to
            if child.sibling is None:
                child.sibling = to.first_child
                break
            child = child.sibling
        to.nchildren += self.nchildren
        to.first_child = self.first_child
        self.first_child = None
        self.nchildren = 0


class MomentList:
    """A domain's snapshots or checkpoints: by name, as a tree, and which one is current."""

    def __init__(self) -> None:
        self._objs: dict[str, Moment] = {}
        self.metaroot = Moment(None)
        self.current: Moment | None = None

    def __len__(self) -> int:
        return len(self._objs)

    def __iter__(self) -> Iterator[Moment]:
        return iter(list(self._objs.values()))

    def find(self, name: str | None) -> Moment | None:
        """The moment called *name* (None for None)."""
        return self._objs.get(name) if name is not None else None

    @property
    def current_name(self) -> str | None:
        """The current moment's name, if there is one."""
        return self.current.name if self.current is not None else None

    def assign(self, defn: Any) -> Moment:
        """Add a moment for *defn* (not linked to its parent yet).

        :raises VirtError: when the name is taken, in libvirt's words.
        """
        if defn.name in self._objs:
            raise VirtError.failed(ErrDomain.DOMAIN, f"domain moment {defn.name} already exists")
        moment = Moment(defn)
        self._objs[defn.name] = moment
        return moment

    def remove(self, moment: Moment) -> bool:
        """Remove *moment* by name (its links are left as they are); True if it was the
        current one, which then no longer is."""
        was_current = self.current is moment
        self._objs.pop(moment.name, None)
        if was_current:
            self.current = None
        return was_current

    def remove_all(self) -> None:
        """Forget every moment."""
        self._objs.clear()
        self.metaroot.drop_children()
        self.current = None

    def link_parent(self, moment: Moment) -> None:
        """Link *moment* under the moment its definition names as parent (or the metaroot)."""
        parent = self.find(moment.defn.parent_name) or self.metaroot
        moment.set_parent(parent)

    def update_relations(self) -> bool:
        """Link every moment under its parent, from scratch; False (and no current moment)
        when a parent is missing or the parents form a cycle."""
        ok = True
        self.metaroot.drop_children()
        for moment in self._objs.values():
            moment.parent = None
            moment.first_child = None
            moment.sibling = None
            moment.nchildren = 0
        for moment in self._objs.values():
            parent = self.find(moment.defn.parent_name)
            if parent is None:
                if moment.defn.parent_name is not None:
                    ok = False
                parent = self.metaroot
            else:
                tmp: Moment | None = parent
                while tmp is not None and tmp.defn is not None:
                    if tmp is moment:
                        ok = False
                        parent = self.metaroot
                        break
                    tmp = tmp.parent
            moment.set_parent(parent)
        if not ok:
            self.current = None
        return ok

    def check_cycles(self, defn: Any) -> None:
        """Refuse a definition whose parent is itself, missing, or would make a cycle.

        :raises VirtError: libvirt's invalid-argument errors.
        """
        if defn.parent_name is None:
            return
        if defn.name == defn.parent_name:
            raise _invalid_arg(f"cannot set moment {defn.name} as its own parent")
        other = self.find(defn.parent_name)
        if other is None:
            raise _invalid_arg(f"parent {defn.parent_name} for moment {defn.name} not found")
        while other.defn.parent_name is not None:
            if other.defn.parent_name == defn.name:
                raise _invalid_arg(f"parent {other.name} would create cycle to {defn.name}")
            following = self.find(other.defn.parent_name)
            if following is None:
                break
            other = following

    def find_leaf(self) -> Moment | None:
        """The only leaf, when the moments form a single chain."""
        moment = self.metaroot
        if moment.nchildren != 1:
            return None
        while moment.nchildren == 1 and moment.first_child is not None:
            moment = moment.first_child
        return moment if moment.nchildren == 0 else None

    def names(
        self,
        start: Moment | None,
        flags: int,
        accept: Callable[[Moment], bool] = lambda m: True,
    ) -> list[str]:
        """``virDomainMomentObjListGetNames``: the names *flags* select.

        From the whole list (*start* None) ``LIST_ROOTS`` keeps the roots; from a moment,
        ``LIST_DESCENDANTS`` takes every descendant instead of the children.  *accept*
        applies the kind's own filters.
        """
        if start is None:
            # LIST_ROOTS and LIST_DESCENDANTS share a bit with opposite meanings.
            flags ^= LIST_ROOTS
            start = self.metaroot
        if flags & _FILTERS_METADATA == LIST_NO_METADATA:
            return []  # every moment here has metadata
        if flags & LIST_DESCENDANTS:
            if start.defn is not None or flags & LIST_TOPOLOGICAL:
                walk: Iterator[Moment] = start.descendants()
            else:
                walk = iter(list(self._objs.values()))
        else:
            walk = start.children()
        out = []
        for moment in walk:
            if flags & LIST_LEAVES and moment.nchildren:
                continue
            if flags & LIST_NO_LEAVES and not moment.nchildren:
                continue
            if not accept(moment):
                continue
            out.append(moment.name)
        return out


def _invalid_arg(text: str) -> VirtError:
    return VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN, "invalid argument: %s", text)
