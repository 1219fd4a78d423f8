"""Fault rules: the grammar, matching, counting, probabilities, and the keepalive hook."""

from __future__ import annotations

import pytest

from netrpc.core.connection import NEED_DATA, Connection, Role
from netrpc.core.protocol import (
    KEEPALIVE_PROC_PING,
    KEEPALIVE_PROGRAM,
    KEEPALIVE_VERSION,
    Header,
    MessageType,
    encode_message,
)
from netrpc.io.server.faults import (
    FaultAction,
    FaultInjector,
    FaultRuleError,
    FaultTarget,
    parse_rule,
)

NAMES = {"DOMAIN_GET_INFO": 16, "CONNECT_OPEN": 1}


def resolve(name: str) -> int | None:
    return NAMES.get(name)


def call(procedure: int, program: int = 0x20008086, serial: int = 1) -> Header:
    return Header(program, 1, procedure, int(MessageType.CALL), serial, 0)


@pytest.mark.parametrize(
    ("text", "canonical", "procedure", "action"),
    [
        (
            "DOMAIN_GET_INFO:error=1/10/injected failure,times=1",
            "DOMAIN_GET_INFO:error=1/10/injected failure,times=1",
            16,
            FaultAction.ERROR,
        ),
        ("domain_get_info:hang", "DOMAIN_GET_INFO:hang", 16, FaultAction.HANG),
        ("REMOTE_PROC_CONNECT_OPEN:drop-before", "CONNECT_OPEN:drop-before", 1, FaultAction.DROP_BEFORE),
        ("16:delay=0.25", "16:delay=0.25", 16, FaultAction.DELAY),
        ("*:corrupt,probability=0.5,seed=7", "*:corrupt,probability=0.5,seed=7", None, FaultAction.CORRUPT),
        (" 0016 : drop-after ", "16:drop-after", 16, FaultAction.DROP_AFTER),
    ],
)
def test_rules_parse_to_canonical_form(
    text: str, canonical: str, procedure: int | None, action: FaultAction
) -> None:
    rule = parse_rule(text, resolve=resolve)
    assert rule.text == canonical
    assert rule.procedure == procedure
    assert rule.action is action
    assert rule.target is FaultTarget.CALL
    # The canonical form parses to itself.
    assert parse_rule(rule.text, resolve=resolve).text == canonical


def test_error_rule_carries_a_libvirt_error() -> None:
    rule = parse_rule("16:error=42/12/Domain not found: no domain with matching name 'x'")
    assert rule.error is not None
    assert (rule.error.code, rule.error.domain, rule.error.level) == (42, 12, 2)
    assert rule.error.message == "Domain not found: no domain with matching name 'x'"
    # The message runs to the next comma: what follows is an option.
    rule = parse_rule("16:error=1/7/a/b,times=2")
    assert rule.error is not None and rule.error.message == "a/b"
    assert rule.times == 2


def test_server_wide_targets() -> None:
    assert parse_rule("keepalive:hang").target is FaultTarget.KEEPALIVE
    assert parse_rule("ACCEPT:refuse,times=3").text == "accept:refuse,times=3"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("DOMAIN_GET_INFO", "expected PROC:ACTION"),
        (":hang", "expected PROC:ACTION"),
        ("NO_SUCH_PROC:hang", "unknown procedure NO_SUCH_PROC"),
        ("16:explode", "unknown action 'explode'"),
        ("16:error=1/x/oops", "code and domain must be integers"),
        ("16:error=1/2", "error needs =CODE/DOMAIN/MESSAGE"),
        ("16:delay=-1", "delay needs =SECONDS"),
        ("16:delay=nan", "delay needs =SECONDS"),
        ("16:hang=3", "hang takes no value"),
        ("16:hang,times=0", "times needs a whole number >= 1"),
        ("16:hang,probability=1.5", "probability needs a number in (0, 1]"),
        ("16:hang,seed=x", "seed needs an integer"),
        ("16:hang,times=1,times=2", "times given twice"),
        ("16:hang,color=red", "unknown option 'color=red'"),
        ("keepalive:error=1/2/x", "keepalive takes hang, not error"),
        ("accept:hang", "accept takes refuse, not hang"),
        ("16:refuse", "16 takes error, delay, hang"),
        ("99999999999:hang", "out of range"),
        ("a-b:hang", "not a procedure name, number or *"),
    ],
)
def test_bad_rules_name_the_rule_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(FaultRuleError) as info:
        parse_rule(text, resolve=resolve)
    message = str(info.value)
    assert message.startswith(f"bad fault rule {text!r}: ")
    assert problem in message
    assert "\n" not in message


def test_names_need_a_resolver() -> None:
    with pytest.raises(FaultRuleError, match="give its number"):
        parse_rule("DOMAIN_GET_INFO:hang")


def test_first_matching_rule_wins_and_times_run_out() -> None:
    injector = FaultInjector(program=0x20008086, resolve=resolve)
    first = injector.add("DOMAIN_GET_INFO:error=1/10/first,times=2")
    injector.add("*:delay=1")
    assert injector.match_call(call(16)) is first
    assert injector.match_call(call(16)) is first
    assert first.fired == 2 and first not in injector.rules
    # Used up: the catch-all rule applies now, to every procedure of the program only.
    assert injector.match_call(call(16)) is injector.rules[0]
    assert injector.match_call(call(3)) is injector.rules[0]
    assert injector.match_call(call(3, program=0x20008087)) is None
    assert injector.clear() == 1
    assert injector.match_call(call(16)) is None


def test_probability_with_a_seed_is_repeatable() -> None:
    def pattern() -> list[bool]:
        injector = FaultInjector(resolve=resolve)
        injector.add("16:hang,probability=0.5,seed=42")
        return [injector.match_call(call(16)) is not None for _ in range(64)]

    first = pattern()
    assert first == pattern()
    assert 10 < sum(first) < 54  # about half fire


def test_keepalive_filter_and_refusals() -> None:
    injector = FaultInjector()
    assert injector.keepalive_filter("pong") and injector.keepalive_filter("ping")
    assert not injector.refuse_connection()
    injector.add("keepalive:hang,times=2")
    assert not injector.keepalive_filter("ping")  # the server sends none meanwhile
    assert not injector.keepalive_filter("pong")
    assert not injector.keepalive_filter("pong")
    assert injector.keepalive_filter("pong")  # used up
    injector.add("accept:refuse,times=1")
    assert injector.refuse_connection()
    assert not injector.refuse_connection()
    injector.restart(downtime=60)
    assert injector.refuse_connection()
    injector.clear()
    assert not injector.refuse_connection()


def test_connection_consults_the_keepalive_filter() -> None:
    conn = Connection(Role.SERVER)
    seen: list[str] = []

    def deny(kind: str) -> bool:
        seen.append(kind)
        return False

    conn.keepalive_filter = deny
    ping = encode_message(
        Header(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PING, int(MessageType.MESSAGE), 0, 0),
        b"",
    )
    conn.receive_data(ping, now=1.0)
    assert conn.next_event() is NEED_DATA
    assert not conn.has_output
    conn.start_keepalive(1.0)
    conn.handle_timer(100.0)
    assert not conn.has_output
    assert seen == ["pong", "ping"]
    conn.keepalive_filter = None
    conn.receive_data(ping, now=101.0)
    assert conn.next_event() is NEED_DATA
    assert conn.has_output  # answered again
