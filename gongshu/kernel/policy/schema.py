"""R30: the shape of a policy file. Loading validates it fully before anything is stored."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Label(BaseModel):
    model_config = ConfigDict(extra="allow")
    zh: str
    en: str

    def english(self) -> str:
        """R30: the English label as written. An English label with commas left unquoted in a YAML flow
        mapping (`{zh: …, en: A, b, c}`) is cut at its commas: YAML reads the rest as keys without values,
        in order. The shipped 2023 version was loaded so (four labels), and a loaded version never changes
        content (its digest), so the label is joined back here, on reading."""
        rest = [str(k) for k, v in (self.model_extra or {}).items() if v is None]
        return ", ".join([self.en, *rest]) if rest else self.en


class Deadline(Label):
    working_days: int = Field(ge=1, le=365)
    anchor: Literal["case", "step"] = "step"
    statutory: bool = False
    article: str = ""


class StepSpec(Label):
    name: str
    org: str  # an organisation kind ("authority", "operator", "municipal_government") or "party.<name>"
    role: str
    deadline: str


class WorkflowKind(Label):
    article: str = ""
    steps: list[StepSpec] = Field(min_length=1)


class BaseResource(Label):
    code: str
    providers: list[str]


class CycleLabel(Label):
    interval_days: int = Field(ge=1)


class PolicyDocument(BaseModel):
    """One version of the regulation as data."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title_zh: str
    title_en: str = ""
    issued_by_zh: str = ""
    effective_from: dt.date
    effective_to: dt.date | None = None
    deadlines: dict[str, Deadline]
    catalog_kinds: dict[str, Label]
    sharing_attributes: dict[str, Label]
    sharing_condition_kinds: dict[str, Label]
    sharing_methods: dict[str, Label]
    open_attributes: dict[str, Label]
    open_condition_kinds: dict[str, Label]
    credit_lists: dict[str, Label]
    update_cycles: dict[str, CycleLabel]
    grades: dict[str, Label]
    base_data: dict[str, list[BaseResource]]
    escalation: list[StepSpec]
    workflow_kinds: dict[str, WorkflowKind]

    @model_validator(mode="after")
    def _references_resolve(self) -> PolicyDocument:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        specs = [s for k in self.workflow_kinds.values() for s in k.steps] + list(self.escalation)
        for spec in specs:
            if spec.deadline not in self.deadlines:
                raise ValueError(f"step {spec.name!r} names an unknown deadline {spec.deadline!r}")
        return self
