"""R19 R26: what a database-table or file delivery may carry — the granted items (typed), the grant's rows
(its row filter), the key a consumer's table is upserted by, and the digest of the rows delivered."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Column, MetaData, Numeric, String, Table, Text, select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource
from gongshu.kernel.access.grants import grant_state
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.service import DataDecision, decide_data
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import hmac_sm3_hex
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, Role
from gongshu.store import service as store
from gongshu.store import tables
from gongshu.store.models import RecordHistory, StoreResource

RECORD_REF = "_record_ref"


def system_consumer(session: Session, org_id: int) -> Actor:
    """R19: the platform acting for a consumer organisation in a scheduled delivery (data officer role)."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise ValueError(f"no organisation {org_id}")
    return Actor(
        user_id=None,
        username=f"delivery@{org.code}",
        display_name=f"{org.name_zh}（平台交付）",
        org_id=org.id,
        org_kind=org.kind,
        org_code=org.code,
        roles=frozenset({(org.id, Role.DATA_OFFICER.value)}),
        via="job",
    )


def decide_for_grant(session: Session, consumer: Actor, grant: Grant) -> DataDecision:
    """R19 R26: decide for the grant's consumer, scenario, items and method — and only under this grant
    (an unconditional resource's direct use does not keep a revoked grant's delivery going)."""
    resource = data_resource(session, grant.resource_id)
    items = [i for i in grant.items if i in resource.items]
    decision = decide_data(
        session,
        consumer,
        resource,
        scenario=grant.scenario,
        items=items,
        method=grant.delivery_method,
        grant_id=grant.id,
    )
    if decision.allowed and decision.grant_id != grant.id:
        state = grant_state(grant)
        reason = {"revoked": "access.grant_revoked", "expired": "access.grant_expired"}.get(state)
        return DataDecision(False, reason or "access.no_grant")
    return decision


def consumer_actor(session: Session, actor: Actor, consumer_org_id: int) -> Actor:
    """R19: who a delivery acts as — the consumer's data officer calling, or (for the platform's jobs) the
    consumer organisation itself with the data officer role."""
    if actor.is_system:
        return system_consumer(session, consumer_org_id)
    if not actor.has_role("data_officer", consumer_org_id):
        raise Forbidden(
            "delivery.not_consumer",
            "只有授权接收单位的数据管理员可以执行该交付",
            "Only a data officer of the grant's consumer may run this delivery",
        )
    return actor


def coerce(item: dict[str, Any], value: Any) -> Any:
    """A value (typed from the store, or as JSON in the change feed on either backend) as its item type."""
    if value is None:
        return None
    kind = item.get("data_type")
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "t")
    if kind == "datetime":
        return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return str(value)


@dataclasses.dataclass
class Shape:
    """R19 R26: the granted items in the resource's order, the grant's row filter and the consumer key."""

    items: list[dict[str, Any]]
    all_items: dict[str, dict[str, Any]]
    key_item: str
    pk: str
    row_filter: dict[str, set[Any]]
    grant_id: int

    @classmethod
    def of(cls, res: StoreResource, decision: DataDecision, grant_id: int) -> Shape:
        granted = set(decision.items)
        items = [i for i in res.items if i["name"] in granted]
        by_name = {str(i["name"]): i for i in res.items}
        pk = res.key_item if res.key_item in granted else RECORD_REF
        flt = {
            k: {coerce(by_name[k], v) for v in values}
            for k, values in decision.row_filter.items()
            if k in by_name
        }
        return cls(items, by_name, res.key_item, pk, flt, grant_id)

    @property
    def names(self) -> list[str]:
        return [str(i["name"]) for i in self.items]

    def consumer_table(self, name: str) -> Table:
        """The consumer's table: the granted items typed as in the store (decimals with a scale, keys
        with a length, so every backend keeps them), keyed by the record key or its keyed hash."""
        cols: list[Column[Any]] = []
        if self.pk == RECORD_REF:
            cols.append(Column(RECORD_REF, String(64), primary_key=True))
        for item in self.items:
            n = str(item["name"])
            kind = tables.column_type(item)
            if item.get("data_type") == "decimal":
                kind = Numeric(28, 8)
            if n == self.pk and isinstance(kind, Text):
                kind = String(200)
            cols.append(Column(n, kind, primary_key=n == self.pk, nullable=n != self.pk))
        return Table(name, MetaData(), *cols)

    def _ref(self, record_key: str) -> str:
        """A consumer key that does not disclose a record key the grant withholds (keyed hash)."""
        secret = (get_settings().resolved_secret_key() + "/delivery/record-ref").encode()
        return hmac_sm3_hex(secret, f"{self.grant_id}/{record_key}".encode())

    def change_key(self, record_key: str) -> Any:
        if self.pk == RECORD_REF:
            return self._ref(record_key)
        return coerce(self.all_items[self.pk], record_key)

    def key_of(self, row: dict[str, Any]) -> Any:
        if self.pk == RECORD_REF:
            return self._ref(str(row[self.key_item]))
        return coerce(self.all_items[self.pk], row[self.pk])

    def matches(self, row: dict[str, Any]) -> bool:
        return all(coerce(self.all_items[k], row.get(k)) in allowed for k, allowed in self.row_filter.items())

    def change_row(self, change: RecordHistory) -> dict[str, Any] | None:
        """The row a change leaves for the consumer: None when deleted or outside the grant's rows."""
        if change.op == "delete" or change.after is None or not self.matches(change.after):
            return None
        return {**change.after, self.key_item: change.after.get(self.key_item, change.record_key)}

    def project(self, row: dict[str, Any], key: Any) -> dict[str, Any]:
        out = {str(i["name"]): coerce(i, row.get(str(i["name"]))) for i in self.items}
        if self.pk == RECORD_REF:
            out[RECORD_REF] = key
        return out


def full_rows(
    session: Session, res: StoreResource, shape: Shape, chunk: int
) -> Iterator[list[dict[str, Any]]]:
    """R19: every row of the grant (its row filter), all items, in key order, chunk by chunk (keyset)."""
    table = store.table_of(res)
    key = table.c[res.key_item]
    names = [str(i["name"]) for i in res.items] + ([res.key_item] if res.key_item == tables.ROW_HASH else [])
    stmt = select(*(table.c[n] for n in names)).order_by(key).limit(chunk)
    for item, allowed in shape.row_filter.items():
        stmt = stmt.where(table.c[item].in_(list(allowed)))
    last: Any = None
    while True:
        page = stmt if last is None else stmt.where(key > last)
        rows = [dict(r._mapping) for r in session.execute(page)]
        if not rows:
            return
        yield rows
        last = rows[-1][res.key_item]


class RowsDigest:
    """The SM3 of the rows delivered, in order, as canonical JSON lines (a receipt's response digest)."""

    def __init__(self) -> None:
        self._h = hashes.Hash(hashes.SM3())

    def add(self, key: Any, row: dict[str, Any] | None) -> None:
        line = json.dumps({"key": key, "row": row}, sort_keys=True, ensure_ascii=False, default=str)
        self._h.update(line.encode() + b"\n")

    def hexdigest(self) -> str:
        return self._h.copy().finalize().hex()
