"""Background jobs: each slot runs on exactly one of several racing workers, failures are recorded and the
next slot runs again; the SLA sweep (R17, R14, R23) runs as a job, from `gongshu worker --once` too."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from gongshu.kernel import db
from gongshu.kernel.jobs import registry
from gongshu.kernel.jobs.models import JobRun
from gongshu.kernel.jobs.runner import EmbeddedScheduler, run_due_jobs, slot_of
from gongshu.kernel.timeutil import freeze
from gongshu.kernel.workflow import sla
from gongshu.kernel.workflow.models import Notification

BASE = dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC)
EVERY = 60


@pytest.fixture()
def scratch_jobs() -> Iterator[list[str]]:
    """Names of jobs registered by a test; unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        registry.unregister(name)


def test_each_slot_runs_exactly_once_across_racing_workers(db_clean: str, scratch_jobs: list[str]) -> None:
    calls: Counter[dt.datetime] = Counter()
    lock = threading.Lock()
    current: dict[str, dt.datetime] = {}

    @registry.job("test.race", every_seconds=EVERY)
    def race(session: Session) -> None:
        time.sleep(0.02)  # widen the window in which another worker could slip in
        with lock:
            calls[current["slot"]] += 1

    scratch_jobs.append("test.race")
    slots = [BASE + dt.timedelta(seconds=EVERY * k + 7) for k in range(6)]
    workers = 4
    barrier = threading.Barrier(workers)
    ran: list[int] = [0] * workers
    errors: list[BaseException] = []

    def work(index: int) -> None:
        engine_ = db.make_engine(db_clean)  # each worker its own connections, as separate processes would
        factory = sessionmaker(bind=engine_, expire_on_commit=False)
        try:
            for at in slots:
                barrier.wait()
                with lock:
                    current["slot"] = slot_of(at, EVERY)
                ran[index] += len(run_due_jobs(factory, f"worker-{index}", at=at, only={"test.race"}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            engine_.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(ran) == len(slots)
    assert calls == Counter({slot_of(at, EVERY): 1 for at in slots})
    with db.session_scope(db_clean) as s:
        runs = s.scalars(select(JobRun).where(JobRun.job_name == "test.race")).all()
        assert sorted(r.slot for r in runs) == [slot_of(at, EVERY) for at in slots]
        assert {r.status for r in runs} == {"ok"}


def test_failing_job_records_error_and_the_next_slot_runs_again(
    db_clean: str, scratch_jobs: list[str]
) -> None:
    attempts: list[int] = []

    @registry.job("test.flaky", every_seconds=EVERY)
    def flaky(session: Session) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("source database unreachable")

    scratch_jobs.append("test.flaky")
    assert run_due_jobs(db_clean, "w1", at=BASE, only={"test.flaky"}) == ["test.flaky"]
    assert run_due_jobs(db_clean, "w2", at=BASE + dt.timedelta(seconds=1), only={"test.flaky"}) == []
    assert run_due_jobs(db_clean, "w2", at=BASE + dt.timedelta(seconds=EVERY), only={"test.flaky"}) == [
        "test.flaky"
    ]
    with db.session_scope(db_clean) as s:
        runs = s.scalars(select(JobRun).where(JobRun.job_name == "test.flaky").order_by(JobRun.slot)).all()
        assert [r.status for r in runs] == ["error", "ok"]
        assert "source database unreachable" in (runs[0].error or "")
        assert runs[0].finished_at is not None and runs[1].worker == "w2"
    assert len(attempts) == 2


def _due_soon_case(session: Session) -> int:
    from test_workflow import build_world, sharing_application

    world = build_world(session)
    freeze(dt.datetime(2026, 9, 28, 10, 0))
    case = sharing_application(session, world)
    freeze(dt.datetime(2026, 10, 9, 9, 0))  # one working day left
    return case.id


def test_r17_sla_sweep_runs_as_a_job_every_300_seconds(session: Session) -> None:
    registry.discover()
    spec = registry.get("workflow.sla_sweep")
    assert spec is not None and spec.every_seconds == sla.SWEEP_EVERY_SECONDS
    case_id = _due_soon_case(session)
    assert run_due_jobs(None, "w1", only={"workflow.sla_sweep"}) == ["workflow.sla_sweep"]
    assert run_due_jobs(None, "w2", only={"workflow.sla_sweep"}) == []  # same slot
    session.expire_all()
    kinds = set(session.scalars(select(Notification.kind).where(Notification.case_id == case_id)))
    assert "due_soon" in kinds


def test_worker_once_from_the_command_line_runs_due_jobs(session: Session) -> None:
    from gongshu.cli import app

    case_id = _due_soon_case(session)
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "workflow.sla_sweep" in result.output
    again = CliRunner().invoke(app, ["worker", "--once"])
    assert again.exit_code == 0 and "workflow.sla_sweep" not in again.output
    session.expire_all()
    assert (
        session.scalars(
            select(Notification).where(Notification.case_id == case_id, Notification.kind == "due_soon")
        ).first()
        is not None
    )


def test_embedded_scheduler_runs_jobs_in_the_background_and_stops(
    db_clean: str, scratch_jobs: list[str]
) -> None:
    seen = threading.Event()

    @registry.job("test.tick", every_seconds=3600)
    def tick(session: Session) -> None:
        seen.set()

    scratch_jobs.append("test.tick")
    scheduler = EmbeddedScheduler(interval=0.05, source=db_clean)
    scheduler.start()
    try:
        assert seen.wait(10)
        assert scheduler.running
    finally:
        scheduler.stop()
    assert not scheduler.running
