"""R6 R19 R22: what catalog software needs of a published entry, shared by the CKAN and DCAT-AP views —
stable identifiers, the distributions of the sharing methods that have a public representation, and the
mapping of the regulation's categories onto the EU vocabularies (frequency, access right, file type)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from gongshu.catalog.data_view import EntryView
from gongshu.catalog.validation import CONTINUOUS_CYCLES
from gongshu.kernel.policy.service import Policy
from gongshu.kernel.timeutil import as_utc

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:gongshu:catalog")
EU = "http://publications.europa.eu/resource/authority/"
FREQUENCY = EU + "frequency/"
ACCESS_RIGHT = EU + "access-right/"
FILE_TYPE = EU + "file-type/"
LANGUAGE_ZH = EU + "language/ZHO"
LANGUAGE_EN = EU + "language/ENG"
# R22: open attribute → EU access right (anything else, e.g. not_open, is NON_PUBLIC).
ACCESS_RIGHTS = {"general": "PUBLIC", "on_application": "RESTRICTED"}
# Data formats of the catalog that have an EU file type and a media type.
FILE_TYPES = {
    "csv": ("CSV", "text/csv"),
    "xlsx": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "json": ("JSON", "application/json"),
    "xml": ("XML", "application/xml"),
}
# EU frequencies by the longest interval (days) they cover; longer intervals are irregular.
FREQUENCY_BY_INTERVAL = (
    (1, "DAILY"),
    (7, "WEEKLY"),
    (31, "MONTHLY"),
    (92, "QUARTERLY"),
    (183, "ANNUAL_2"),
    (366, "ANNUAL"),
)


def package_id(code: str) -> str:
    """A stable uuid for an entry, derived from its resource code."""
    return str(uuid.uuid5(NAMESPACE, f"entry:{code}"))


def org_uuid(code: str) -> str:
    """A stable uuid for an organisation, derived from its code."""
    return str(uuid.uuid5(NAMESPACE, f"organisation:{code}"))


def resource_uuid(code: str, method: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"distribution:{code}:{method}"))


def package_name(code: str) -> str:
    """CKAN's name (a lower-case slug) of a resource code; resource codes are upper-case, so it reverses."""
    return code.lower()


def code_of_name(name: str) -> str:
    return name.strip().upper()


def iso(value: dt.datetime | None) -> str | None:
    """CKAN's timestamp form: UTC without an offset."""
    return as_utc(value).replace(tzinfo=None).isoformat() if value is not None else None


def frequency(pol: Policy, cycle: str) -> str:
    """R10: the EU frequency of an update cycle, from the cycle's interval in the policy."""
    spec = pol.doc.update_cycles.get(cycle)
    if spec is None:
        return FREQUENCY + "UNKNOWN"
    if cycle in CONTINUOUS_CYCLES:
        return FREQUENCY + ("CONT" if spec.interval_days <= 1 else "UPDATE_CONT")
    for days, code in FREQUENCY_BY_INTERVAL:
        if spec.interval_days <= days:
            return FREQUENCY + code
    return FREQUENCY + "IRREG"


def access_right(open_attribute: str) -> str:
    """R22: the EU access right of an open attribute."""
    return ACCESS_RIGHT + ACCESS_RIGHTS.get(open_attribute, "NON_PUBLIC")


@dataclass(frozen=True)
class Distribution:
    """One public representation of an entry's data."""

    method: str
    title_zh: str
    title_en: str
    url: str
    format: str  # upper-case short name, e.g. JSON or CSV ("" when the catalog format has none)
    media_type: str


def distributions(pol: Policy, entry: EntryView, base: str) -> list[Distribution]:
    """R19 R22: the sharing methods with a public representation — the service interface (its metadata
    and data endpoint under /api/v1/catalog/<code>) and file exchange (the entry's page, in the entry's
    format). Database tables and streams are delivered only to departments, never described publicly."""
    out: list[Distribution] = []
    code = entry.resource_code
    for method in entry.sharing_methods:
        if method == "api":
            fmt, media = FILE_TYPES["json"]
            url = f"{base}/api/v1/catalog/{code}"
        elif method == "file":
            fmt, media = FILE_TYPES.get(entry.format, ("", ""))
            url = f"{base}/catalog/{code}"
        else:
            continue
        labels = [pol.label("sharing_methods", method, lang) for lang in ("zh", "en")]
        out.append(Distribution(method, labels[0], labels[1], url, fmt, media))
    return out
