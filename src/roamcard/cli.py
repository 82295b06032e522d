"""`roamcard …`: serve, worker, migrate, demo, cards, catalog, ledger."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from roamcard import migrate as migrations
from roamcard.config import get_settings
from roamcard.db import get_database
from roamcard.logging import configure_logging

app = typer.Typer(help="Roamcard: operator platform for prepaid travel eSIM cards.", no_args_is_help=True)
cards_app = typer.Typer(help="Issue and look up cards.", no_args_is_help=True)
catalog_app = typer.Typer(help="The product catalogue.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
app.add_typer(cards_app, name="cards")
app.add_typer(catalog_app, name="catalog")
app.add_typer(ledger_app, name="ledger")
jobs_app = typer.Typer(help="The outbox: queued, running, done and dead-lettered jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

console = Console()
errors = Console(stderr=True)


@app.callback()
def _setup() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    migrations.upgrade(get_settings().database_url)
    console.print("[green]database is up to date[/green]")


@app.command()
def demo() -> None:
    """Load the demo catalogue and demo cards. Safe to run again."""
    from roamcard.demo import load_demo

    with get_database().transaction() as session:
        cards = load_demo(session)
    table = Table(title="Demo cards (sign in at the portal or POST /api/v1/sessions)")
    for column in ("card number", "service password", "phone", "language"):
        table.add_column(column)
    for card in cards:
        table.add_row(card.card_number, card.password, card.phone, card.language)
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the job worker in-process.")
    ] = True,
    processes: Annotated[int, typer.Option(help="Server processes (each stateless).")] = 1,
) -> None:
    """Serve the portal, API and webhooks (and, unless --no-worker, the job worker)."""
    import uvicorn

    from roamcard.server import app_factory_path

    console.print(f"Roamcard on http://{host}:{port}  (API docs: /docs)")
    uvicorn.run(
        app_factory_path(worker),
        factory=True,
        host=host,
        port=port,
        workers=processes,
        proxy_headers=True,
        access_log=False,
        log_level="warning",
    )


@app.command("worker")
def run_worker(
    once: Annotated[bool, typer.Option(help="Run what is due, then exit.")] = False,
) -> None:
    """Run the outbox worker: jobs, retries and sweepers. Run as many as you like."""
    from roamcard.jobs.sweepers import build_worker

    job_worker = build_worker(get_database())
    if once:
        job_worker.sweep_if_due()
        ran = job_worker.drain()
        console.print(f"ran {ran} jobs")
        return

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        job_worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    job_worker.run_forever()


@cards_app.command("create")
def create_card(
    phone: Annotated[str, typer.Option(help="Bound phone, E.164 (e.g. +8613800138000).")],
    password: Annotated[str | None, typer.Option(help="6–12 digits; 8 random digits when left out.")] = None,
    language: Annotated[str, typer.Option(help="zh-CN or en.")] = "zh-CN",
) -> None:
    """Issue a card; prints {"card_number", "password"} as JSON."""
    from roamcard.card import numbers
    from roamcard.card import service as card_service
    from roamcard.i18n import LANGUAGES

    if language not in LANGUAGES:
        errors.print(f"[red]--language must be one of {', '.join(LANGUAGES)}[/red]")
        raise typer.Exit(2)
    try:
        with get_database().transaction() as session:
            issued = card_service.issue_card(session, phone=phone, password=password, language=language)
            card_number = issued.card.card_number
    except (numbers.InvalidPhone, numbers.InvalidPassword) as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    sys.stdout.write(json.dumps({"card_number": card_number, "password": issued.password}) + "\n")


@catalog_app.command("load")
def load_catalog(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]) -> None:
    """Load an edited catalogue file (TOML); products left out are deactivated."""
    from roamcard.catalog import service as catalog_service

    try:
        with get_database().transaction() as session:
            result = catalog_service.load_catalog(session, file)
    except catalog_service.CatalogFileError as exc:
        errors.print(f"[red]catalogue not loaded[/red]\n{exc}")
        raise typer.Exit(2) from None
    console.print(f"created {result.created}, updated {result.updated}, deactivated {result.deactivated}")


@ledger_app.command("verify")
def verify_ledger() -> None:
    """Recompute every balance from transfers; exit 1 on any difference or unbalanced asset."""
    from roamcard.ledger import service as ledger

    with get_database().reading() as session:
        report = ledger.verify(session)
    table = Table(title=f"Ledger: {report.accounts} accounts")
    table.add_column("asset")
    table.add_column("sum of balances", justify="right")
    for asset, total in sorted(report.asset_totals.items()):
        table.add_row(asset, str(total))
    console.print(table)
    for code, cached, recomputed in report.mismatched_balances:
        errors.print(f"[red]{code}: cached {cached}, transfers say {recomputed}[/red]")
    for code in report.below_lower_bound:
        errors.print(f"[red]{code}: below its lower bound[/red]")
    if report.asset_mismatches:
        errors.print(f"[red]{report.asset_mismatches} transfers between accounts of another asset[/red]")
    if not report.ok:
        errors.print("[red]ledger verify: FAILED[/red]")
        raise typer.Exit(1)
    console.print(
        "[green]ledger verify: OK — every balance matches its transfers, every asset sums to zero[/green]"
    )


@jobs_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="queued, running, done or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Newest jobs first, with their last error."""
    from roamcard.jobs import repository as jobs

    with get_database().reading() as session:
        counts = jobs.count_by_status(session)
        rows = jobs.list_by_status(session, status, limit)
    console.print(", ".join(f"{name}: {count}" for name, count in sorted(counts.items())) or "no jobs")
    table = Table()
    for column in ("id", "kind", "status", "attempts", "run at", "last error"):
        table.add_column(column)
    for job in rows:
        table.add_row(
            str(job.id),
            job.kind,
            job.status,
            f"{job.attempts}/{job.max_attempts}",
            job.run_at.isoformat(timespec="seconds"),
            (job.last_error or "")[:80],
        )
    console.print(table)


@jobs_app.command("retry")
def retry_job(job_id: Annotated[int, typer.Argument(help="A dead-lettered job's id.")]) -> None:
    """Queue a dead-lettered job again with fresh attempts."""
    from roamcard.jobs import repository as jobs

    with get_database().transaction() as session:
        requeued = jobs.requeue_dead(session, job_id)
    if not requeued:
        errors.print(f"[red]job {job_id} is not dead-lettered[/red]")
        raise typer.Exit(1)
    console.print(f"job {job_id} queued again")


# -- phone channel: back-office staff and the IVR simulator ---------------------------------------------
staff_app = typer.Typer(help="Back-office staff accounts (agent console at /admin).", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


@staff_app.command("create")
def create_staff(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    role: Annotated[str, typer.Option(help="agent, supervisor, finance or admin.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="12+ characters (asked for)."
        ),
    ],
) -> None:
    """Create a staff account; the first sign-in enrols an authenticator app (TOTP)."""
    from roamcard.staff import service as staff_service

    try:
        with get_database().transaction() as session:
            member = staff_service.create_staff(session, email=email, role=role, password=password)
            summary = f"{member.email} ({member.role})"
    except staff_service.InvalidStaffAccount as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"[green]created {summary}[/green]: sign in at /admin/login and scan the QR code")


@staff_app.command("list")
def list_staff() -> None:
    """Every staff account, its role and whether its authenticator is set up."""
    from roamcard.staff import repository as staff_repository

    table = Table(title="Staff")
    for column in ("email", "role", "two-step", "last sign-in", "disabled"):
        table.add_column(column)
    with get_database().reading() as session:
        for member in staff_repository.list_all(session):
            table.add_row(
                member.email,
                member.role,
                "yes" if member.totp_enrolled_at else "not yet",
                member.last_login_at.isoformat(timespec="minutes") if member.last_login_at else "—",
                "yes" if member.disabled_at else "",
            )
    console.print(table)


@staff_app.command("reset-totp")
def reset_staff_totp(email: Annotated[str, typer.Option(help="The account whose phone was lost.")]) -> None:
    """Forget an account's authenticator and end its sessions; the next sign-in enrols a new one."""
    from roamcard.staff import repository as staff_repository
    from roamcard.staff import service as staff_service

    with get_database().transaction() as session:
        member = staff_repository.get_by_email(session, email.strip().lower())
        if member is None:
            errors.print(f"[red]no staff account {email}[/red]")
            raise typer.Exit(2)
        staff_service.reset_totp(session, member)
    console.print(f"[green]{email}: two-step verification reset[/green]")


@app.command("ivr-sim")
def ivr_sim(
    url: Annotated[str, typer.Option(help="Where the server listens.")] = "http://127.0.0.1:8000",
    caller: Annotated[str, typer.Option("--from", help="The caller's number (E.164).")] = "+8613800138000",
) -> None:
    """Walk the hotline in the terminal: prints what would be said, reads keys from the keyboard (an empty
    line is silence), through the same signed HTTP webhooks Twilio calls."""
    from roamcard.ivr import simulator

    settings = get_settings()

    def say(language: str, text: str) -> None:
        console.print(f"[cyan]🔊 ({language})[/cyan] {text}", soft_wrap=True)

    def keys(secret: bool) -> str:
        return str(typer.prompt("☎ keys", default="", hide_input=secret, show_default=False))

    with simulator.open_client(url) as http:
        call = simulator.Simulator(
            http,
            public_base_url=settings.public_base_url,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            caller=caller,
            say=say,
            keys=keys,
        )
        outcome = call.run()
    if outcome.startswith("dial:"):
        console.print(f"[yellow]→ transferred to {outcome[5:]}[/yellow]")
    console.print("[dim]call ended[/dim]")


@app.command("reconcile")
def reconcile_bill(
    provider: Annotated[str, typer.Option(help="alipay, wechat_pay or stripe.")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The gateway's bill.")
    ],
) -> None:
    """Match a gateway's settlement file against our payments and refunds, per day; exit 1 on any
    difference (missing on either side, amount or status mismatch)."""
    from roamcard.reconcile import parsers
    from roamcard.reconcile import service as reconciliation

    if provider not in parsers.PARSERS:
        errors.print(f"[red]--provider must be one of {', '.join(sorted(parsers.PARSERS))}[/red]")
        raise typer.Exit(2)
    try:
        lines = parsers.parse(provider, file)
    except parsers.BillFormatError as exc:
        errors.print(f"[red]not a {provider} bill: {exc}[/red]")
        raise typer.Exit(2) from None
    with get_database().reading() as session:
        report = reconciliation.reconcile(session, provider, lines)
    table = Table(title=f"Reconciliation: {provider}, {file.name}")
    for column in ("day", "matched", "missing on our side", "missing at the gateway", "amount", "status"):
        table.add_column(column, justify="right" if column != "day" else "left")
    for day in report.days:
        table.add_row(
            day.day.isoformat(),
            str(day.matched),
            str(len(day.missing_ours)),
            str(len(day.missing_gateway)),
            str(len(day.amount_mismatches)),
            str(len(day.status_mismatches)),
        )
    console.print(table)
    for day in report.days:
        for title, findings in (
            ("missing on our side", day.missing_ours),
            ("missing at the gateway", day.missing_gateway),
            ("amount mismatch", day.amount_mismatches),
            ("status mismatch", day.status_mismatches),
        ):
            for finding in findings:
                errors.print(f"{day.day} {title}: {finding.kind} {finding.reference} ({finding.detail})")
    if not report.clean:
        errors.print("[red]reconcile: differences found[/red]")
        raise typer.Exit(1)
    console.print("[green]reconcile: every line matches[/green]")
