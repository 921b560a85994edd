"""The `gongshu` command line. Every command reads GONGSHU_DATABASE_URL and GONGSHU_DATA_DIR."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gongshu.aggregation import cli as ingest_cli
from gongshu.kernel.audit import cli as audit_cli
from gongshu.kernel.clock import cli as clock_cli
from gongshu.kernel.crypto import cli as crypto_cli
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identifiers import cli as identifiers_cli
from gongshu.sharing import receipt_cli

app = typer.Typer(no_args_is_help=True, help="gongshu (公数): the public data resource platform")
db_app = typer.Typer(no_args_is_help=True, help="Database migrations")
policy_app = typer.Typer(no_args_is_help=True, help="Policy as data (R30)")
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(clock_cli.app, name="calendar", help="Working-day clock")
app.add_typer(identifiers_cli.app, name="id", help="Resident ID number and USCC checks (R10)")
app.add_typer(crypto_cli.app, name="seal", help="Electronic seals (R10)")
app.add_typer(audit_cli.app, name="audit", help="Audit log")
app.add_typer(receipt_cli.app, name="receipt", help="Delivery receipts (R19, R26)")
app.command("ingest")(ingest_cli.ingest)

console = Console()


def fail(exc: GongshuError) -> None:
    console.print(f"[red]{exc.code}[/red]: {exc.message_zh} / {exc.message_en}")
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema and load the shipped policy."""
    from gongshu.kernel.bootstrap import initialise
    from gongshu.kernel.config import get_settings

    initialise()
    console.print(f"database ready: {get_settings().resolved_database_url()}")


@policy_app.command("show")
def policy_show(
    version: str = typer.Option("", help="A version id; default: the one in force today"),
    as_json: bool = typer.Option(False, "--json", help="Print the whole policy as JSON"),
) -> None:
    """Show the policy in force (or a given version): deadlines and periods."""
    from gongshu.kernel.db import read_scope
    from gongshu.kernel.policy import service

    try:
        with read_scope() as session:
            pol = service.get_version(session, version) if version else service.at(session)
            all_versions = service.versions(session)
    except GongshuError as exc:
        fail(exc)
        return
    if as_json:
        print(
            json.dumps(pol.doc.model_dump(mode="json") | {"lapsed": pol.lapsed}, ensure_ascii=False, indent=2)
        )
        return
    console.print(
        f"[bold]{pol.doc.title_zh}[/bold] ({pol.id}) {pol.doc.effective_from} → "
        f"{pol.doc.effective_to or '—'}"
        + ("  [yellow]已到期，继续沿用 (lapsed)[/yellow]" if pol.lapsed else "")
    )
    table = Table("deadline", "working days", "anchor", "article", "statutory", "名称")
    for key, d in pol.doc.deadlines.items():
        table.add_row(key, str(d.working_days), d.anchor, d.article, "yes" if d.statutory else "", d.zh)
    console.print(table)
    console.print(
        "versions: " + ", ".join(f"{v.id} ({v.effective_from}→{v.effective_to or '—'})" for v in all_versions)
    )


@policy_app.command("load")
def policy_load(path: Path) -> None:
    """Load a successor policy version from a YAML or JSON file (R30)."""
    from gongshu.kernel.audit.service import record
    from gongshu.kernel.db import session_scope
    from gongshu.kernel.identity.actor import SYSTEM
    from gongshu.kernel.policy import service

    try:
        doc = service.parse_policy(path.read_text(encoding="utf-8"), source=str(path))
        with session_scope() as session:
            row = service.load(session, doc)
            record(session, SYSTEM, "policy.load", object_type="policy_version", object_id=row.id)
    except GongshuError as exc:
        fail(exc)
        return
    console.print(f"loaded policy {doc.id}: {doc.effective_from} → {doc.effective_to or '—'}")


@app.command("demo")
def demo(
    url: str = typer.Option(
        "http://127.0.0.1:8000", "--url", help="Address the platform will serve on (for printed commands)"
    ),
    department_api: str = typer.Option(
        "http://127.0.0.1:8001",
        "--department-api",
        help="Address of the stand-in department API (python -m gongshu.demo.department_api), registered "
        "as the demo's service interface",
    ),
) -> None:
    """Load the demo city (idempotent) and print how to log in."""
    import pyotp

    from gongshu.demo.load import DEMO_PASSWORD, DEMO_TOTP_SECRET, load_demo
    from gongshu.demo.sharing import stream_curl
    from gongshu.kernel.bootstrap import initialise

    initialise()
    try:
        report = load_demo(department_api=department_api)
    except GongshuError as exc:
        fail(exc)
        return
    console.print(
        "demo city " + ("loaded" if report.created else "already present") + f": {report.users} users"
    )
    if report.catalog_entries:
        console.print(
            f"demo catalog: {report.catalog_entries} entries (the authority's review queue: "
            "/catalog/review as authority.reviewer)"
        )
    if report.sharing is not None:  # R15–R21: printed once, with the city (the token is not kept)
        sh = report.sharing
        grants = ", ".join(f"{origin} {n}" for origin, n in sorted(sh.grants.items()))
        console.print(
            f"demo sharing: grants ({grants}); applications {', '.join(sh.cases.values())}; "
            f"closed emergency #{sh.emergency_event_id}; set-up page {sh.setup_page}",
            soft_wrap=True,
        )
        console.print(f"data stream of {sh.stream_user} (API token shown only now):", soft_wrap=True)
        print(stream_curl(sh.stream_code, sh.stream_scenario, sh.stream_token, base=url.rstrip("/")))
    if report.objection_case_id is not None:
        console.print(
            f"demo objection #{report.objection_case_id}: zhangsan's household address, waiting for "
            "public_security.data (/data/objections/" + str(report.objection_case_id) + "); zhangsan sees "
            "his records at /my/data",
            soft_wrap=True,
        )
    ext = report.external
    if ext is not None and ext.pull_code:  # R7: the scheduled pull from a department's database
        console.print(
            f"demo scheduled pull: {ext.pull_code} (不动产登记信息) from {ext.pull_file}, incremental every "
            f"{ext.pull_every_minutes} min (batch #{ext.pull_batch_id}, {ext.pull_status}): "
            f"/data/{ext.pull_code}/sources as {ext.pull_user}",
            soft_wrap=True,
        )
    if ext is not None and ext.interface_code:  # R7: the service interface
        console.print(
            f"demo service interface: {ext.interface_code} (残疾人登记信息) served by "
            f"{ext.interface_base_url}{ext.interface_path} ("
            + ("confirmed" if ext.interface_confirmed else "not confirmed")
            + f"): /data/{ext.interface_code}/interface as {ext.interface_user} or authority.reviewer; "
            f"the department API is `python -m gongshu.demo.department_api --port P --db {ext.interface_db}` "
            "(scripts/run-demo.sh starts it)",
            soft_wrap=True,
        )
        if ext.interface_token:
            console.print(
                f"a verification through it by {ext.interface_caller} (API token shown only now):",
                soft_wrap=True,
            )
            print(ext.interface_curl(url))
    table = Table("username", "organisation", "roles", title=f"demo logins (password: {DEMO_PASSWORD})")
    for username, org, roles in report.logins:
        table.add_row(username, org, roles)
    console.print(table)
    console.print(
        "every department and public service organisation has <code>.catalog, <code>.data, "
        "<code>.reviewer, <code>.admin and <code>.auditor (same password)"
    )
    console.print(
        f"two-factor login for {', '.join(report.totp_users)}: TOTP secret {DEMO_TOTP_SECRET} "
        f"(current code: {pyotp.TOTP(DEMO_TOTP_SECRET).now()}; `gongshu demo-code` prints it)"
    )


@app.command("demo-code")
def demo_code() -> None:
    """Print the current TOTP code of the demo administrators (demo data only)."""
    import pyotp

    from gongshu.demo.load import DEMO_TOTP_SECRET

    print(pyotp.TOTP(DEMO_TOTP_SECRET).now())


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on"),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Web processes, each with its own SO_REUSEPORT socket (one per CPU)"
    ),
    log_level: str | None = typer.Option(None, "--log-level", help="uvicorn's log level (default: info)"),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request"),
) -> None:
    """Run the platform's pages and API (initialises the database first when needed)."""
    import uvicorn
    from sqlalchemy.engine import make_url

    from gongshu.kernel.bootstrap import initialise
    from gongshu.kernel.config import get_settings
    from gongshu.web.serve import ServeOptions, serve_workers

    initialise()  # idempotent: migrations to head, the shipped policy, the platform's seal key
    shown = make_url(get_settings().resolved_database_url()).render_as_string(hide_password=True)
    address = f"[{host}]" if ":" in host else host
    plural = f", {workers} workers" if workers > 1 else ""
    console.print(f"gongshu serving on http://{address}:{port}/  (database: {shown}{plural})", soft_wrap=True)
    if workers == 1:
        app_path = "gongshu.web.app:create_app"
        uvicorn.run(app_path, factory=True, host=host, port=port, log_level=log_level, access_log=access_log)
        return
    options = ServeOptions(host=host, port=port, log_level=log_level, access_log=access_log)
    raise typer.Exit(serve_workers(options, workers))


@app.command("worker")
def worker(
    once: bool = typer.Option(False, "--once", help="Run the jobs that are due now, once, and exit"),
    interval: float = typer.Option(5.0, "--interval", min=0.1, help="Seconds between two looks for due jobs"),
) -> None:
    """Run the background jobs (SLA sweep, ...) until interrupted; several workers never run a slot twice."""
    import threading

    from gongshu.kernel.jobs.runner import default_worker_id, run_due_jobs, worker_loop

    worker_id = default_worker_id("cli")
    if once:
        ran = run_due_jobs(None, worker_id)
        console.print("ran: " + (", ".join(ran) if ran else "nothing due"))
        return
    stop = threading.Event()
    console.print(f"worker {worker_id} running; Ctrl+C stops it")
    try:
        worker_loop(worker_id, stop, interval=interval)
    except KeyboardInterrupt:
        stop.set()
        console.print("worker stopped")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
