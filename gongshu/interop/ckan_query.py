"""R6: CKAN's search syntax (the Solr subset that CKAN clients send in `q` and `fq`) parsed into a small
expression tree, checked against the fields the catalog supports, and evaluated on package views.

Supported: `field:value`, `field:"quoted value"`, `field:(a OR b)`, negation (`-field:value`,
`NOT field:value`), `AND`/`OR` (juxtaposition is AND), parentheses, `*:*`, trailing-`*` prefixes and
ranges over timestamps `metadata_modified:[2024-01-01T00:00:00Z TO *]` (also `NOW`, `NOW-7DAYS`).
Words without a field are full-text terms answered by the catalog's own search."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gongshu.kernel.errors import GongshuError
from gongshu.kernel.timeutil import now

EXTRAS = (
    "catalog_kind",
    "sharing_attribute",
    "open_attribute",
    "update_cycle",
    "grade",
    "category_code",
    "resource_code",
)
# CKAN's own fields that clients send (dataset_type:dataset, capacity:public, state:active) are known too.
VALUE_FIELDS = (
    "organization",
    "tags",
    "groups",
    "res_format",
    "name",
    "id",
    "dataset_type",
    "capacity",
    "state",
    *EXTRAS,
)
DATE_FIELDS = ("metadata_modified", "metadata_created")
FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:")
RELATIVE = re.compile(r"^NOW(?:-(\d+)DAYS?)?$")


class QueryError(GongshuError):
    """A query CKAN's clients would get back as a 409 Validation Error."""

    status_code = 409


@dataclass(frozen=True)
class Term:
    field: str | None  # None: a full-text term
    value: str


@dataclass(frozen=True)
class Range:
    field: str
    low: dt.datetime | None
    high: dt.datetime | None


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class All:
    pass


Node = Term | Range | Not | And | Or | All


def _invalid(param: str, zh: str, en: str) -> QueryError:
    return QueryError("ckan.query_invalid", f"{param} 参数有误：{zh}", f"Invalid {param}: {en}", field=param)


def _range_refused(field: str, param: str) -> QueryError:
    return _invalid(
        param,
        f"字段 {field} 不支持范围检索（仅 {'、'.join(DATE_FIELDS)}）",
        f"field {field} takes no range (only {', '.join(DATE_FIELDS)})",
    )


def parse_time(value: str, param: str) -> dt.datetime | None:
    """A range bound: `*`, `NOW`, `NOW-7DAYS` or an ISO 8601 timestamp (UTC when no offset is given)."""
    if value == "*":
        return None
    rel = RELATIVE.match(value.upper())
    if rel:
        return now() - dt.timedelta(days=int(rel.group(1) or 0))
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(param, f"无法识别的时间 {value}", f"unrecognised timestamp {value}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class _Parser:
    def __init__(self, text: str, param: str) -> None:
        self.text, self.pos, self.param = text, 0, param

    def fail(self, zh: str, en: str) -> QueryError:
        at = self.pos + 1
        return _invalid(self.param, f"{zh}（第 {at} 个字符）", f"{en} (at character {at})")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def keyword(self, *words: str) -> bool:
        self.skip()
        for w in words:
            end = self.pos + len(w)
            if self.text[self.pos : end] == w and (end >= len(self.text) or not self.text[end].isalnum()):
                self.pos = end
                return True
        return False

    def parse(self) -> Node:
        node = self.expr(None)
        self.skip()
        if self.pos < len(self.text):
            raise self.fail("多余的内容", "unexpected text")
        return node

    def expr(self, field: str | None) -> Node:
        nodes = [self.conj(field)]
        while self.keyword("OR", "||"):
            nodes.append(self.conj(field))
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def conj(self, field: str | None) -> Node:
        nodes = [self.unary(field)]
        while True:
            self.skip()
            if self.pos >= len(self.text) or self.text[self.pos] == ")":
                break
            save = self.pos
            if self.keyword("OR", "||"):
                self.pos = save
                break
            self.keyword("AND", "&&")
            nodes.append(self.unary(field))
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def unary(self, field: str | None) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail("查询不完整", "incomplete query")
        ch = self.text[self.pos]
        if ch in "-!":
            self.pos += 1
            return Not(self.unary(field))
        if self.keyword("NOT"):
            return Not(self.unary(field))
        if ch == "+":
            self.pos += 1
            return self.unary(field)
        if ch == "(":
            return self.group(field)
        if self.text.startswith("*:*", self.pos):
            self.pos += 3
            return All()
        m = FIELD.match(self.text, self.pos)
        if m and field is None:
            self.pos = m.end()
            return self.value(m.group(0)[:-1])
        return self.value(field)

    def group(self, field: str | None) -> Node:
        self.pos += 1
        node = self.expr(field)
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] != ")":
            raise self.fail("缺少右括号", "missing closing parenthesis")
        self.pos += 1
        return node

    def value(self, field: str | None) -> Node:
        if self.pos >= len(self.text):
            raise self.fail("缺少取值", "missing value")
        ch = self.text[self.pos]
        if ch == "(":
            return self.group(field)
        if ch in "[{" and field is not None:
            if field not in DATE_FIELDS:
                raise _range_refused(field, self.param)
            end = self.text.find("]" if ch == "[" else "}", self.pos)
            if end < 0:
                raise self.fail("范围缺少右括号", "unterminated range")
            parts = self.text[self.pos + 1 : end].split(" TO ")
            if len(parts) != 2:
                raise self.fail("范围应写作 [起 TO 止]", "a range is written [from TO to]")
            self.pos = end + 1
            low, high = (parse_time(p.strip(), self.param) for p in parts)
            return Range(field, low, high)
        if ch == '"':
            end = self.text.find('"', self.pos + 1)
            if end < 0:
                raise self.fail("引号未闭合", "unterminated quote")
            value, self.pos = self.text[self.pos + 1 : end], end + 1
            return Term(field, value)
        start = self.pos
        while self.pos < len(self.text) and not _ends_value(self.text[self.pos]):
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        return Term(field, re.sub(r"\\(.)", r"\1", self.text[start : self.pos]))


def _ends_value(ch: str) -> bool:
    return ch.isspace() or ch in "()"


def parse(text: str, param: str) -> Node:
    """Parse a `q` or `fq` value; every field must be one the catalog supports."""
    if not text.strip():
        return All()
    node = _Parser(text, param).parse()
    check_fields(node, param)
    return node


def check_fields(node: Node, param: str) -> None:
    if isinstance(node, Term) and node.field is not None and node.field not in VALUE_FIELDS + DATE_FIELDS:
        supported = ", ".join(VALUE_FIELDS + DATE_FIELDS)
        raise _invalid(
            param,
            f"不支持按字段 {node.field} 检索，可用字段：{supported}",
            f"cannot search on field {node.field}; supported fields: {supported}",
        )
    for child in _children(node):
        check_fields(child, param)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.nodes
    if isinstance(node, Not):
        return (node.node,)
    return ()


def conjuncts(node: Node) -> list[Node]:
    """The top-level AND-ed parts of a query."""
    if isinstance(node, And):
        return [n for child in node.nodes for n in conjuncts(child)]
    return [] if isinstance(node, All) else [node]


def text_terms(node: Node) -> set[str]:
    """Every full-text term anywhere in the query."""
    found = {node.value} if isinstance(node, Term) and node.field is None else set()
    for child in _children(node):
        found |= text_terms(child)
    return found


def _match_value(value: str, have: Any) -> bool:
    wanted = value.lower()
    values = {str(v).lower() for v in have}
    if wanted == "*":
        return bool(values)
    if wanted.endswith("*"):
        return any(v.startswith(wanted[:-1]) for v in values)
    return wanted in values


def evaluate(node: Node, view: dict[str, Any], text_match: Callable[[str], bool]) -> bool:
    """Does a package view (field → list of values, or a datetime for timestamps) satisfy the query?"""
    if isinstance(node, All):
        return True
    if isinstance(node, Not):
        return not evaluate(node.node, view, text_match)
    if isinstance(node, And):
        return all(evaluate(n, view, text_match) for n in node.nodes)
    if isinstance(node, Or):
        return any(evaluate(n, view, text_match) for n in node.nodes)
    if isinstance(node, Range):
        at: dt.datetime | None = view.get(node.field)
        if at is None:
            return False
        return (node.low is None or at >= node.low) and (node.high is None or at <= node.high)
    if node.field is None:
        return text_match(node.value)
    if node.field in DATE_FIELDS:
        bound = parse_time(node.value, node.field)
        return bound is None or view.get(node.field) == bound
    return _match_value(node.value, view.get(node.field, []))
