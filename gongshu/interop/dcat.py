"""R6 R22: the published catalog as a DCAT-AP 3.0 graph — a dcat:Catalog published by the authority,
each entry the caller may see a dcat:Dataset (provider as foaf:Agent, topic as skos:Concept, update cycle
as an EU frequency, open attribute as an EU access right, R24 open conditions as the rights of each
distribution). IRIs are stable under the request's base URL. Conforms to the official SHACL shapes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, SKOS
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import EntryView, search_entries, visible_entry
from gongshu.interop import mapping
from gongshu.kernel.errors import NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.policy.service import Policy
from gongshu.kernel.timeutil import as_utc

DCAT = Namespace("http://www.w3.org/ns/dcat#")  # DCAT 3 (dcat:version is new in 3)
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
IANA = "https://www.iana.org/assignments/media-types/"
PREFIXES = {
    "dcat": DCAT,
    "dct": DCTERMS,
    "foaf": FOAF,
    "skos": SKOS,
    "vcard": VCARD,
    "xsd": XSD,
    "rdfs": RDFS,
    "hydra": HYDRA,
}
JSONLD_CONTEXT = {k: str(v) for k, v in PREFIXES.items()}
MEDIA_TYPES = {"ttl": "text/turtle; charset=utf-8", "jsonld": "application/ld+json"}
FORMATS = {"ttl": "turtle", "jsonld": "json-ld"}


@dataclass(frozen=True)
class Iris:
    """The stable IRIs of the catalog's things under a base URL."""

    base: str

    def catalog(self) -> URIRef:
        return URIRef(f"{self.base}/id/catalog")

    def dataset(self, code: str) -> URIRef:
        return URIRef(f"{self.base}/id/dataset/{code}")

    def distribution(self, code: str, method: str) -> URIRef:
        return URIRef(f"{self.base}/id/dataset/{code}/distribution/{method}")

    def agent(self, code: str) -> URIRef:
        return URIRef(f"{self.base}/id/organisation/{quote(code)}")

    def themes(self) -> URIRef:
        return URIRef(f"{self.base}/id/theme")

    def theme(self, topic: str) -> URIRef:
        return URIRef(f"{self.base}/id/theme/{quote(topic, safe='')}")


def new_graph() -> Graph:
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    return g


def _time(value: dt.datetime) -> Literal:
    return Literal(as_utc(value).replace(microsecond=0).isoformat(), datatype=XSD.dateTime)


def _typed(g: Graph, iri: URIRef, *classes: URIRef) -> URIRef:
    for cls in classes:
        g.add((iri, RDF.type, cls))
    return iri


def _agent(g: Graph, iris: Iris, org: Organisation | None) -> URIRef:
    """A provider (or the authority) as a foaf:Agent with its name in Chinese and English."""
    if org is None:
        node = _typed(g, iris.agent("platform"), FOAF.Agent)
        g.add((node, FOAF.name, Literal("公数 · 公共数据资源平台", lang="zh")))
        return node
    node = _typed(g, iris.agent(org.code), FOAF.Agent, FOAF.Organization)
    g.add((node, FOAF.name, Literal(org.name_zh, lang="zh")))
    if org.name_en:
        g.add((node, FOAF.name, Literal(org.name_en, lang="en")))
    return node


def _theme(g: Graph, iris: Iris, topic: str) -> URIRef:
    scheme = _typed(g, iris.themes(), SKOS.ConceptScheme)
    g.add((scheme, DCTERMS.title, Literal("主题", lang="zh")))
    g.add((scheme, DCTERMS.title, Literal("Topics", lang="en")))
    node = _typed(g, iris.theme(topic), SKOS.Concept)
    g.add((node, SKOS.prefLabel, Literal(topic, lang="zh")))
    g.add((node, SKOS.inScheme, scheme))
    return node


def _rights(pol: Policy, entry: EntryView) -> tuple[str, str]:
    """R22 R24: the open attribute and the open conditions, in Chinese and English."""
    zh = [pol.label("open_attributes", entry.open_attribute, "zh")]
    en = [pol.label("open_attributes", entry.open_attribute, "en")]
    for cond in entry.open_conditions:
        kind, value = str(cond.get("kind", "")), str(cond.get("value", ""))
        zh.append(f"{pol.label('open_condition_kinds', kind, 'zh')}：{value}")
        en.append(f"{pol.label('open_condition_kinds', kind, 'en')}: {value}")
    return "；".join(zh), "; ".join(en)


def add_dataset(g: Graph, iris: Iris, pol: Policy, entry: EntryView, provider: Organisation | None) -> URIRef:
    """R6: one published entry as a dcat:Dataset with its distributions."""
    code = entry.resource_code
    ds = _typed(g, iris.dataset(code), DCAT.Dataset)
    g.add((ds, DCTERMS.identifier, Literal(code)))
    g.add((ds, DCTERMS.title, Literal(entry.name, lang="zh")))
    if entry.name_en:
        g.add((ds, DCTERMS.title, Literal(entry.name_en, lang="en")))
    g.add((ds, DCTERMS.description, Literal(entry.summary or entry.name, lang="zh")))
    for keyword in entry.keywords:
        g.add((ds, DCAT.keyword, Literal(str(keyword), lang="zh")))
    publisher = _agent(g, iris, provider)
    g.add((ds, DCTERMS.publisher, publisher))
    if entry.topic:
        g.add((ds, DCAT.theme, _theme(g, iris, entry.topic)))
    g.add(
        (
            ds,
            DCTERMS.accrualPeriodicity,
            _typed(g, URIRef(mapping.frequency(pol, entry.update_cycle)), DCTERMS.Frequency),
        )
    )
    g.add(
        (
            ds,
            DCTERMS.accessRights,
            _typed(g, URIRef(mapping.access_right(entry.open_attribute)), DCTERMS.RightsStatement),
        )
    )
    g.add((ds, DCTERMS.language, _typed(g, URIRef(mapping.LANGUAGE_ZH), DCTERMS.LinguisticSystem)))
    landing = _typed(g, URIRef(f"{iris.base}/catalog/{code}"), FOAF.Document)
    g.add((ds, DCAT.landingPage, landing))
    contact = _typed(g, URIRef(f"{publisher}#contact"), VCARD.Kind, VCARD.Organization)
    for name in g.objects(publisher, FOAF.name):
        g.add((contact, VCARD.fn, name))
    g.add((contact, VCARD.hasURL, landing))
    g.add((ds, DCAT.contactPoint, contact))
    if entry.published_at is not None:
        g.add((ds, DCTERMS.issued, _time(entry.published_at)))
    g.add((ds, DCTERMS.modified, _time(entry.updated_at)))
    g.add((ds, DCAT.version, Literal(str(entry.current_version))))
    rights_zh, rights_en = _rights(pol, entry)
    for dist in mapping.distributions(pol, entry, iris.base):
        node = _typed(g, iris.distribution(code, dist.method), DCAT.Distribution)
        g.add((node, DCTERMS.title, Literal(dist.title_zh, lang="zh")))
        g.add((node, DCTERMS.title, Literal(dist.title_en, lang="en")))
        g.add((node, DCAT.accessURL, URIRef(dist.url)))
        if dist.format:
            fmt = _typed(g, URIRef(mapping.FILE_TYPE + dist.format), DCTERMS.MediaTypeOrExtent)
            g.add((node, DCTERMS.format, fmt))
            g.add((node, DCAT.mediaType, _typed(g, URIRef(IANA + dist.media_type), DCTERMS.MediaType)))
        rights = _typed(g, URIRef(f"{node}#rights"), DCTERMS.RightsStatement)
        g.add((rights, RDFS.label, Literal(rights_zh, lang="zh")))
        g.add((rights, RDFS.label, Literal(rights_en, lang="en")))
        g.add((node, DCTERMS.rights, rights))
        g.add((ds, DCAT.distribution, node))
    return ds


def _authority(session: Session) -> Organisation | None:
    """R5: the authority publishes the catalog."""
    return session.scalar(
        select(Organisation).where(Organisation.kind == OrgKind.AUTHORITY.value).order_by(Organisation.id)
    )


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))


def catalog_graph(
    session: Session, actor: Actor, pol: Policy, base: str, page: int, page_size: int, ext: str
) -> tuple[Graph, Page]:
    """R6 R22: one page of the catalog (the entries the actor may see, most recently updated first)."""
    iris, g = Iris(base), new_graph()
    offset = (page - 1) * page_size
    total, hits = search_entries(session, actor, sort="updated", limit=page_size, offset=offset)
    info = Page(page, page_size, total)
    cat = _typed(g, iris.catalog(), DCAT.Catalog)
    g.add((cat, DCTERMS.title, Literal("公共数据资源目录", lang="zh")))
    g.add((cat, DCTERMS.title, Literal("Public data resource catalog", lang="en")))
    about_zh = f"依据《{pol.doc.title_zh}》编制发布的公共数据资源目录。"
    g.add((cat, DCTERMS.description, Literal(about_zh, lang="zh")))
    if pol.doc.title_en:
        about_en = f"The public data resource catalog under the {pol.doc.title_en}."
        g.add((cat, DCTERMS.description, Literal(about_en, lang="en")))
    authority = _authority(session)
    g.add((cat, DCTERMS.publisher, _agent(g, iris, authority)))
    for lang in (mapping.LANGUAGE_ZH, mapping.LANGUAGE_EN):
        g.add((cat, DCTERMS.language, _typed(g, URIRef(lang), DCTERMS.LinguisticSystem)))
    g.add((cat, FOAF.homepage, _typed(g, URIRef(f"{base}/catalog"), FOAF.Document)))
    if authority is not None:
        g.add((cat, DCTERMS.issued, _time(authority.created_at)))
    latest = hits[:1] if page == 1 else search_entries(session, actor, sort="updated", limit=1)[1]
    if latest:
        g.add((cat, DCTERMS.modified, _time(latest[0][0].updated_at)))
    g.add((cat, DCAT.themeTaxonomy, _typed(g, iris.themes(), SKOS.ConceptScheme)))
    g.add((iris.themes(), DCTERMS.title, Literal("主题", lang="zh")))
    providers: dict[int, Organisation | None] = {}
    for entry, _ in hits:
        org_id = entry.provider_org_id
        providers.setdefault(org_id, session.get(Organisation, org_id))
        g.add((cat, DCAT.dataset, add_dataset(g, iris, pol, entry, providers[org_id])))
    _paging(g, cat, base, ext, info)
    return g, info


def page_url(base: str, ext: str, number: int, size: int) -> str:
    return f"{base}/catalog.{ext}?page={number}&page_size={size}"


def _paging(g: Graph, cat: URIRef, base: str, ext: str, info: Page) -> None:
    """The page as a hydra:PartialCollectionView (first, previous, next, last, total)."""
    view = _typed(g, URIRef(page_url(base, ext, info.number, info.size)), HYDRA.PartialCollectionView)
    g.add((cat, HYDRA.view, view))
    g.add((view, HYDRA.totalItems, Literal(info.total, datatype=XSD.nonNegativeInteger)))
    g.add((view, HYDRA.itemsPerPage, Literal(info.size, datatype=XSD.nonNegativeInteger)))
    g.add((view, HYDRA.first, URIRef(page_url(base, ext, 1, info.size))))
    g.add((view, HYDRA.last, URIRef(page_url(base, ext, info.last, info.size))))
    if info.number > 1:
        g.add((view, HYDRA.previous, URIRef(page_url(base, ext, info.number - 1, info.size))))
    if info.number < info.last:
        g.add((view, HYDRA.next, URIRef(page_url(base, ext, info.number + 1, info.size))))


def entry_graph(session: Session, actor: Actor, pol: Policy, base: str, code: str) -> Graph:
    """R6: one published entry the actor may see, as a dcat:Dataset; Not Found otherwise."""
    entry = visible_entry(session, actor, code)
    if entry.status != "published":
        raise NotFound("catalog.not_found", f"没有目录 {code}", f"No catalog entry {code}")
    g = new_graph()
    add_dataset(g, Iris(base), pol, entry, session.get(Organisation, entry.provider_org_id))
    return g


def serialize(g: Graph, ext: str) -> str:
    """Turtle or compact JSON-LD."""
    if ext == "jsonld":
        return g.serialize(format="json-ld", context=JSONLD_CONTEXT, auto_compact=True)
    return g.serialize(format="turtle")
