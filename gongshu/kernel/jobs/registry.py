"""The background jobs of the platform, declared where they live:

    @job("workflow.sla_sweep", every_seconds=300)
    def sla_sweep_job(session: Session) -> None: ...

A job receives a session whose transaction commits when it returns (and rolls back if it raises).
`discover()` imports every module that declares jobs: the kernel's, and each domain package's `jobs`
module (e.g. `gongshu.aggregation.jobs`).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

JobFn = Callable[[Session], None]

# Kernel modules that declare jobs; domain packages are found by their `jobs` module.
KERNEL_JOB_MODULES = ("gongshu.kernel.workflow.sla", "gongshu.kernel.audit.subjects")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the gongshu package


@dataclass(frozen=True)
class JobSpec:
    name: str
    every_seconds: int
    fn: JobFn
    description: str = ""


_jobs: dict[str, JobSpec] = {}


def job(name: str, every_seconds: int) -> Callable[[JobFn], JobFn]:
    """Declare a job that runs once per slot of `every_seconds` seconds, on exactly one worker."""
    if every_seconds < 1:
        raise ValueError(f"job {name!r}: every_seconds must be positive")

    def decorator(fn: JobFn) -> JobFn:
        doc = (fn.__doc__ or "").strip().splitlines()
        _jobs[name] = JobSpec(
            name=name, every_seconds=every_seconds, fn=fn, description=doc[0] if doc else ""
        )
        return fn

    return decorator


def unregister(name: str) -> None:
    _jobs.pop(name, None)


def registered() -> list[JobSpec]:
    """Every declared job, by name."""
    return [_jobs[name] for name in sorted(_jobs)]


def get(name: str) -> JobSpec | None:
    return _jobs.get(name)


def discover() -> None:
    """Import the modules that declare jobs (idempotent)."""
    for module in KERNEL_JOB_MODULES:
        importlib.import_module(module)
    for info in pkgutil.iter_modules([str(_PACKAGE_ROOT)]):
        if not info.ispkg or info.name in ("kernel", "web", "migrations"):
            continue
        name = f"gongshu.{info.name}.jobs"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
