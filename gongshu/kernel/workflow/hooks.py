"""Hooks of the workflow engine: domain packages react to a case inside the same transaction.

A catalog entry is published when its publication case is approved (R6), a sharing grant is created when
a sharing application is approved (R17), an open application's refusal is made public (R23) ... Each domain
registers its reactions here instead of the engine knowing about any domain:

    @on_closed("sharing_application")
    def _grant(session: Session, case: Case) -> None: ...

Callbacks run inside the command's transaction: an exception rolls back the decision as well.
A case may close more than once: a rejected case that is disputed (R15, R17) is reopened and closes again
with the final decision, so callbacks read `case.status` and act idempotently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from gongshu.kernel.workflow.models import Case, Step

ANY_KIND = "*"

CaseHook = Callable[[Session, Case], None]
StepHook = Callable[[Session, Case, Step], None]
H = TypeVar("H")

_closed: dict[str, list[CaseHook]] = {}
_withdrawn: dict[str, list[CaseHook]] = {}
_step_done: dict[str, list[StepHook]] = {}


def _register(table: dict[str, list[H]], kind: str) -> Callable[[H], H]:
    def decorator(fn: H) -> H:
        hooks = table.setdefault(kind, [])
        if fn not in hooks:
            hooks.append(fn)
        return fn

    return decorator


def on_closed(kind: str = ANY_KIND) -> Callable[[CaseHook], CaseHook]:
    """Register `fn(session, case)`, called when a case of `kind` closes with a decision ("approved" or
    "rejected"); `"*"` means every kind."""
    return _register(_closed, kind)


def on_withdrawn(kind: str = ANY_KIND) -> Callable[[CaseHook], CaseHook]:
    """Register `fn(session, case)`, called when the applicant withdraws a case of `kind`."""
    return _register(_withdrawn, kind)


def on_step_done(kind: str = ANY_KIND) -> Callable[[StepHook], StepHook]:
    """Register `fn(session, case, step)`, called when a step of a case of `kind` is decided."""
    return _register(_step_done, kind)


def unregister(fn: object) -> None:
    """Remove a callback from every table (tests register temporary hooks)."""
    for table in (_closed, _withdrawn, _step_done):
        for hooks in table.values():
            while fn in hooks:
                hooks.remove(fn)  # type: ignore[arg-type]


def fire_closed(session: Session, case: Case) -> None:
    for fn in [*_closed.get(case.kind, []), *_closed.get(ANY_KIND, [])]:
        fn(session, case)


def fire_withdrawn(session: Session, case: Case) -> None:
    for fn in [*_withdrawn.get(case.kind, []), *_withdrawn.get(ANY_KIND, [])]:
        fn(session, case)


def fire_step_done(session: Session, case: Case, step: Step) -> None:
    for fn in [*_step_done.get(case.kind, []), *_step_done.get(ANY_KIND, [])]:
        fn(session, case, step)
