"""Domain APIs of the test driver, side by side (lists, stats, tuning, metadata, devices)."""

from __future__ import annotations

from ..scenario_runner import Session, scenario


@scenario
def lists_and_counts(s: Session) -> None:
    c = s.conn
    s.step("numOfDomains", c.numOfDomains)
    s.step("numOfDefinedDomains", c.numOfDefinedDomains)
    s.step("listDomainsID", c.listDomainsID)
    s.step("listDefinedDomains", c.listDefinedDomains)
    s.step("suspend", s.dom().suspend)
    s.step("destroy", s.dom().destroy)
    s.step("numOfDomains after destroy", c.numOfDomains)
    s.step("listDefinedDomains after destroy", c.listDefinedDomains)
    s.step("create", s.dom().create)
    s.step("listDomainsID after create", c.listDomainsID)
    s.events()
