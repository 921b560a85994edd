"""R6: the catalog compilation specification's input and output shapes (pydantic). Loose types on input:
the domain checks with field paths live in validation.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from gongshu.web.i18n import gettext

# Not regulation categories (those come from the policy): technical vocabularies of the compilation spec.
FORMATS = ("csv", "xlsx", "json", "xml", "api", "db", "file")
TABULAR_FORMATS = ("csv", "xlsx", "db")
DATA_TYPES = ("string", "integer", "decimal", "date", "datetime", "boolean", "id_number", "uscc", "text")
SENSITIVITIES = ("public", "internal", "personal", "secret")
SUBJECT_KINDS = ("person", "legal_person", "other")
STATUSES = ("draft", "in_review", "published", "withdrawn")


def _(msgid: str) -> str:
    """Marks a msgid for the page catalogs; gongshu.web.i18n translates it where it is shown."""
    return msgid


# R6: the labels of these vocabularies, as msgids of the page catalogs (the entry pages label subject kinds
# and sensitivities with the same msgids, catalog/_labels.html). Messages and the Excel template name an
# allowed value by its label, never by its bare code.
VOCABULARY_LABELS: dict[str, dict[str, str]] = {
    "format": {
        "csv": _("CSV file"),
        "xlsx": _("Excel workbook"),
        "json": _("JSON file"),
        "xml": _("XML file"),
        "api": _("Service interface"),
        "db": _("Database"),
        "file": _("Other file"),
    },
    "data_type": {
        "string": _("Character string"),
        "integer": _("Whole number"),
        "decimal": _("Decimal number"),
        "date": _("Calendar date"),
        "datetime": _("Date and time"),
        "boolean": _("Yes or no"),
        "id_number": _("Resident ID number"),
        "uscc": _("Unified social credit code"),
        "text": _("Long text"),
    },
    "sensitivity": {
        "public": _("Public"),
        "internal": _("Internal"),
        "personal": _("Personal"),
        "secret": _("Secret"),
    },
    "subject_kind": {
        "person": _("Natural persons"),
        "legal_person": _("Legal persons"),
        "other": _("Other"),
    },
}
# Each vocabulary by its values, for code that holds the tuple (the Excel columns).
VOCABULARY_BY_VALUES = {
    FORMATS: VOCABULARY_LABELS["format"],
    DATA_TYPES: VOCABULARY_LABELS["data_type"],
    SENSITIVITIES: VOCABULARY_LABELS["sensitivity"],
    SUBJECT_KINDS: VOCABULARY_LABELS["subject_kind"],
}


def vocabulary_label(vocabulary: str, code: str, lang: str = "zh") -> str:
    """The label of a value of one of these vocabularies in a language (an unknown value: as is)."""
    msgid = VOCABULARY_LABELS[vocabulary].get(code)
    return gettext(lang, msgid) if msgid else code


class ConditionInput(BaseModel):
    """R17 / R24: one condition: its kind (from the policy) and what it says."""

    kind: str = ""
    value: str = ""


class ItemInput(BaseModel):
    """R6: an information item."""

    name: str = ""
    label_zh: str = ""
    label_en: str = ""
    data_type: str = "string"
    length: int | None = None
    is_key: bool = False
    sensitivity: str = "public"
    description: str = ""


class EntryInput(BaseModel):
    """R6: a catalog entry as compiled by a department's catalog officer."""

    catalog_kind: str = ""
    category_code: str = ""
    name: str = ""
    name_en: str = ""
    provider_org_id: int | None = Field(default=None, ge=1, le=2**31 - 1)  # a row id (PostgreSQL integer)
    summary: str = ""
    format: str = ""
    topic: str = ""
    keywords: list[str] = Field(default_factory=list)
    items: list[ItemInput] = Field(default_factory=list)
    sharing_attribute: str = ""
    sharing_conditions: list[ConditionInput] = Field(default_factory=list)
    legal_basis: str = ""
    sharing_methods: list[str] = Field(default_factory=list)
    open_attribute: str = ""
    open_conditions: list[ConditionInput] = Field(default_factory=list)
    not_open_reason: str = ""
    update_cycle: str = ""
    grade: str = ""
    contains_personal_info: bool = False
    deidentified: bool = False
    subject_kind: str = "other"
    related_codes: list[str] = Field(default_factory=list)


class ChangeInput(BaseModel):
    """R9: a proposed change and its reasons."""

    entry: EntryInput
    reasons: str = ""


class ReasonsInput(BaseModel):
    reasons: str = ""


class ItemOut(ItemInput):
    seq: int


class EntryOut(BaseModel):
    """A catalog entry as shown to someone allowed to see it."""

    resource_code: str
    status: str
    current_version: int
    provider_org_id: int
    published_at: dt.datetime | None
    updated_at: dt.datetime
    review_case_id: int | None
    data: dict[str, Any]


class SearchHitOut(BaseModel):
    resource_code: str
    name: str
    name_en: str
    provider: str
    summary: str
    updated_at: dt.datetime
    score: float


class SearchOut(BaseModel):
    total: int
    hits: list[SearchHitOut]
    facets: dict[str, list[dict[str, Any]]]
