"""`roamcard …`: serve, worker, migrate, demo, cards, catalog, ledger, partners (partner/cli.py),
network-elements (charging/cli.py)."""

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
from roamcard import wiring
from roamcard.charging.cli import cdr_app, network_elements_app
from roamcard.config import get_settings
from roamcard.db import get_database
from roamcard.logging import configure_logging
from roamcard.partner.cli import partners_app

app = typer.Typer(help="Roamcard: operator platform for prepaid travel eSIM cards.", no_args_is_help=True)
cards_app = typer.Typer(help="Issue and look up cards.", no_args_is_help=True)
catalog_app = typer.Typer(help="The product catalogue.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
app.add_typer(cards_app, name="cards")
app.add_typer(catalog_app, name="catalog")
app.add_typer(ledger_app, name="ledger")
promotions_app = typer.Typer(help="Holiday promotions: campaigns and promo codes.", no_args_is_help=True)
app.add_typer(promotions_app, name="promotions")
jobs_app = typer.Typer(help="The outbox: queued, running, done and dead-lettered jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
esim_app = typer.Typer(help="eSIM profiles from the SM-DP+ vendor.", no_args_is_help=True)
app.add_typer(esim_app, name="esim")
app.add_typer(partners_app, name="partners")
app.add_typer(network_elements_app, name="network-elements")
app.add_typer(cdr_app, name="cdr")

console = Console()
errors = Console(stderr=True)


# Commands that hold no secret of ours run on any settings; every other one fails closed (startup.py).
RUNS_ON_ANY_SETTINGS = frozenset({"migrate", "demo", "ivr-sim"})


@app.callback()
def _setup(context: typer.Context) -> None:
    from roamcard import startup

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    wiring.wire()  # payment's outcomes go to top-up and refund (roamcard/wiring.py)
    if context.invoked_subcommand not in RUNS_ON_ANY_SETTINGS:
        try:
            startup.check(settings, warn=False)  # the server warns once it has started
        except startup.StartupRefused as exc:
            errors.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    migrations.upgrade(get_settings().database_url)
    console.print("[green]database is up to date[/green]")


@app.command()
def demo() -> None:
    """Load the demo catalogue and demo cards (demo mode only, never in production). Safe to run again."""
    from roamcard.demo import DEMO_PARTNER_CALLBACK, load_demo, load_demo_partner

    settings = get_settings()
    if settings.environment == "production":
        errors.print(
            "[red]refusing to load demo data in production: the demo cards' passwords are public. "
            "For a local try-out set ROAMCARD_ENVIRONMENT=development (make run does).[/red]"
        )
        raise typer.Exit(2)
    if not settings.demo_enabled:
        errors.print("[red]demo data is only loaded in demo mode (ROAMCARD_DEMO_MODE=true)[/red]")
        raise typer.Exit(2)

    with get_database().transaction() as session:
        cards = load_demo(session)
        partner = load_demo_partner(session)
    table = Table(title="Demo cards (sign in at the portal or POST /api/v1/sessions)")
    for column in ("card number", "service password", "phone", "language"):
        table.add_column(column)
    for card in cards:
        table.add_row(card.card_number, card.password, card.phone, card.language)
    console.print(table)
    console.print(
        "Sandbox partner (docs/partners.md; tops up the demo cards, callbacks to "
        f"{DEMO_PARTNER_CALLBACK}):\n"
        f"  partner_id {partner.partner.public_id}\n  api_key_id {partner.api_key_id}\n"
        f"  api_secret {partner.api_secret}",
        soft_wrap=True,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run a job worker in each server process.")
    ] = True,
    processes: Annotated[
        str,
        typer.Option(help="Server processes: auto (one per core on PostgreSQL, one on SQLite) or a number."),
    ] = "auto",
) -> None:
    """Serve the portal, API and webhooks (and, unless --no-worker, the job worker)."""
    import uvicorn

    from roamcard.server import app_factory_path, resolve_processes

    try:
        count = resolve_processes(processes, is_sqlite=get_settings().is_sqlite)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--processes") from None
    layout = f"{count} server process{'es' if count > 1 else ''}"
    if worker:
        layout += ", a job worker in each" if count > 1 else " with a job worker"
    console.print(f"Roamcard on http://{host}:{port}  (API docs: /docs; {layout})")
    uvicorn.run(
        app_factory_path(worker),
        factory=True,
        host=host,
        port=port,
        workers=count,
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
    from roamcard.notification.checks import check_sms_settings

    check_sms_settings(get_settings())
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
    from roamcard.notification.providers import set_provider

    set_provider(None)  # unbind long-lived provider sessions (SMPP) cleanly


@cards_app.command("create")
def create_card(
    phone: Annotated[str, typer.Option(help="Bound phone, E.164 (e.g. +8613800138000).")],
    password: Annotated[str | None, typer.Option(help="6–12 digits; 8 random digits when left out.")] = None,
    language: Annotated[str, typer.Option(help="zh-CN or en.")] = "zh-CN",
    sms: Annotated[bool, typer.Option(help="Also text the card number and password to the phone.")] = False,
    sandbox: Annotated[bool, typer.Option(help="A sandbox card: sandbox partners may top it up.")] = False,
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
            if sandbox:
                from roamcard.partner.service.sandbox import mark_sandbox_card

                mark_sandbox_card(session, issued.card.id)
            if sms:
                from roamcard.notification import service as sms_service

                sms_service.queue_sms(
                    session,
                    issued.card,
                    "card_issued",
                    key=f"card-issued:{issued.card.id}",
                    card_number=card_number,
                    password=issued.password,
                )
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


@promotions_app.command("load")
def load_promotions(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Load a campaign file (TOML); nothing is loaded when any campaign is wrong. Safe to run again."""
    from roamcard.promotion.service import load as promotion_load

    try:
        with get_database().transaction() as session:
            result = promotion_load.load_campaigns(session, file)
    except promotion_load.CampaignFileError as exc:
        errors.print(f"[red]campaigns not loaded[/red]\n{exc}")
        raise typer.Exit(2) from None
    console.print(f"created {result.created}, updated {result.updated}")


@promotions_app.command("codes")
def promotion_codes(
    campaign: Annotated[str, typer.Option(help="The campaign (its file has single_use_codes = true).")],
    count: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many codes.")],
    out: Annotated[Path, typer.Option(help="CSV to write (campaign_id,code); never overwritten.")],
) -> None:
    """Make single-use promo codes: each redeemable by one order. The CSV is the only copy of the codes
    (the database keeps keyed hashes); nothing is stored unless every code was written."""
    import os

    from rich.progress import Progress

    from roamcard.promotion.service import codes

    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        errors.print(f"[red]{out} exists; code files are never overwritten[/red]")
        raise typer.Exit(2) from None
    progress = _progress()
    assert isinstance(progress, Progress)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii", newline="") as handle, progress:
            task = progress.add_task(f"codes for {campaign}", total=count)
            with get_database().tx() as tx:
                made = codes.generate(tx, campaign, count, handle, lambda n: progress.advance(task, n))
                handle.flush()
                os.fsync(handle.fileno())
    except codes.NotSingleUse as exc:
        out.unlink(missing_ok=True)
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except BaseException:
        out.unlink(missing_ok=True)  # the codes' hashes were rolled back: the file would be worthless
        raise
    console.print(f"[green]{made} single-use codes for {campaign} written to {out}: the only copy.[/green]")


@esim_app.command("import")
def import_esim_profiles(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Load the SM-DP+ vendor's profiles (CSV); bad rows are listed and the command exits 1."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from roamcard.esim.service import inventory

    try:
        inventory.check_header(inventory.header_of(file))
    except inventory.SecretColumnInFile as exc:
        errors.print(
            f"[red]file refused, nothing stored: it has a secret column ({exc.column}). Subscriber keys and "
            "PIN/PUK codes belong in the HLR/HSS, not here: ask the vendor for a file without them.[/red]"
        )
        raise typer.Exit(2) from None
    except inventory.BadImportFile as exc:
        errors.print(f"[red]file refused, nothing stored: {exc}[/red]")
        raise typer.Exit(2) from None
    with file.open("rb") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
    with Progress(
        TextColumn("importing profiles"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        disable=total < 5000,
    ) as progress:
        task = progress.add_task("import", total=total)
        with get_database().transaction() as session:
            report = inventory.import_file(
                session, file, on_progress=lambda rows: progress.advance(task, rows)
            )
    if report.ignored_columns:
        console.print(f"ignored columns: {', '.join(report.ignored_columns)}")
    if report.rejected:
        table = Table(title=f"{len(report.rejected)} problems; those rows were not loaded")
        for column in ("line", "field", "reason"):
            table.add_column(column)
        for rejection in report.rejected:
            table.add_row(str(rejection.line), rejection.field, rejection.reason)
        errors.print(table)
    console.print(f"loaded {report.loaded} profiles")
    if not report.ok:
        raise typer.Exit(1)


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
    for code, cached, held in report.mismatched_pending:
        errors.print(f"[red]{code}: pending {cached}, its pending reservations hold {held}[/red]")
    for key in report.unposted_reservations:
        errors.print(f"[red]reservation {key}: posted without its posting transfer[/red]")
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
            auth_token=settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else "",
            caller=caller,
            say=say,
            keys=keys,
        )
        outcome = call.run()
    if outcome.startswith("dial:"):
        console.print(f"[yellow]→ transferred to {outcome[5:]}[/yellow]")
    console.print("[dim]call ended[/dim]")


# -- recharge cards and dealers (issue 5) ---------------------------------------------------------
vouchers_app = typer.Typer(help="Recharge cards (PIN vouchers): generate, activate, block, look up.")
dealers_app = typer.Typer(help="Dealers (shops, distributors): their prepaid float and POS API key.")
vouchers_app.info.no_args_is_help = dealers_app.info.no_args_is_help = True
app.add_typer(vouchers_app, name="vouchers")
app.add_typer(dealers_app, name="dealers")

RANGE_CHUNK = 50_000  # serials per transaction when a range is activated or blocked


def _operator() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


By = Annotated[str | None, typer.Option("--by", help="Who does this (recorded); default: the OS user.")]
Serials = Annotated[str | None, typer.Option(help="Serial range A-B (or one serial); default: the batch.")]


def _progress() -> object:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _set_card_status(card_number: str, status_name: str, reason: str, by: str | None) -> None:
    """Suspend or resume a card, audited like the console's action (actor `cli:<who>`, role `cli`)."""
    from roamcard.audit.service import Actor
    from roamcard.backoffice import service as console_service
    from roamcard.card import numbers
    from roamcard.card.states import CardStatus
    from roamcard.errors import AppError

    try:
        number = numbers.normalise_card_number(card_number)
    except numbers.InvalidCardNumber as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    actor = Actor(staff_id=None, email=f"cli:{by or _operator()}"[:254], role="cli")
    failure: AppError | None = None
    with get_database().transaction() as session:
        try:
            card = console_service.get_card(session, number)
            console_service.change_status(session, actor, card, CardStatus(status_name), reason)
        except console_service.ActionFailed as exc:
            failure = exc  # its `….failed` audit entry commits with this transaction
        except AppError as exc:
            errors.print(f"[red]{exc.detail('en')}[/red]")
            raise typer.Exit(2) from None
    if failure is not None:
        errors.print(f"[red]{failure.detail('en')}[/red]")
        raise typer.Exit(2)
    console.print(f"{number}: {status_name}")


CardReason = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]
CardNumberArgument = Annotated[str, typer.Argument(help="The card number (spaces allowed).")]


@cards_app.command("suspend")
def suspend_card(card_number: CardNumberArgument, reason: CardReason, by: By = None) -> None:
    """Suspend a card (reported lost, fraud): every signed-in session ends; sign-in, settings, top-ups and
    refunds are refused; emergency help stays open."""
    _set_card_status(card_number, "suspended", reason, by)


@cards_app.command("resume")
def resume_card(card_number: CardNumberArgument, reason: CardReason, by: By = None) -> None:
    """Make a suspended card active again."""
    _set_card_status(card_number, "active", reason, by)


@vouchers_app.command("generate")
def generate_vouchers(
    batch: Annotated[str, typer.Option(help="A new batch name, e.g. 2026-12-USD10.")],
    count: Annotated[int, typer.Option(help="How many recharge cards.")],
    currency: Annotated[str, typer.Option(help="USD or CNY: the face value's currency.")],
    expires: Annotated[str, typer.Option(help="Last valid day, YYYY-MM-DD (operator time zone).")],
    out: Annotated[Path, typer.Option(help="CSV to create with serial,pin (never overwritten).")],
    face_value: Annotated[
        int | None, typer.Option(help="Balance value in minor units (1000 = 10.00).")
    ] = None,
    product: Annotated[str | None, typer.Option(help="Or a catalogue pack, e.g. data-5gb-30d.")] = None,
    dealer: Annotated[str | None, typer.Option(help="Only this dealer (dlr_…) may sell the batch.")] = None,
    by: By = None,
) -> None:
    """Generate a batch: writes serial,pin once (the only copy of the PINs); the batch stays unusable until
    `roamcard vouchers activate`."""
    import os
    from datetime import date

    from rich.progress import Progress

    from roamcard.voucher.service.generate import BatchSpec, generate_batch
    from roamcard.voucher.service.lifecycle import BatchProblem

    try:
        expires_on = date.fromisoformat(expires)
    except ValueError:
        errors.print("[red]--expires must be a date, YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None
    spec = BatchSpec(
        name=batch,
        count=count,
        currency=currency.upper(),
        expires_on=expires_on,
        face_value=face_value,
        product_id=product,
        dealer_id=dealer,
        actor=f"cli:{by or _operator()}",
    )
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        errors.print(f"[red]{out} exists; PIN files are never overwritten[/red]")
        raise typer.Exit(2) from None
    progress = _progress()
    assert isinstance(progress, Progress)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii", newline="") as handle, progress:
            task = progress.add_task(f"batch {batch}", total=count)
            made = generate_batch(
                get_database(), spec, handle, on_progress=lambda n: progress.advance(task, n)
            )
            os.fsync(handle.fileno())
    except BatchProblem as exc:
        out.unlink(missing_ok=True)
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"[green]batch {made.name}: {made.count} recharge cards, "
        f"serials {made.serial_first}-{made.serial_last}, "
        f"{made.face_value_amount} {made.face_value_currency} each, valid until {expires_on}[/green]\n"
        f"PINs written to {out}: the only copy. Keep it offline; the cards are worth nothing until activated."
    )


def _change_range(
    action_name: str, batch: str, serials: str | None, by: str | None, note: str | None
) -> None:
    from rich.progress import Progress

    from roamcard.voucher import codes
    from roamcard.voucher.service import lifecycle
    from roamcard.voucher.states import RangeAction

    action = RangeAction(action_name)
    actor = f"cli:{by or _operator()}"
    database = get_database()
    try:
        with database.reading() as session:
            found = lifecycle.get_batch(session, batch)
            first, last = codes.parse_serial_range(serials) if serials else lifecycle.whole_batch(found)
            lifecycle.check_range(found, first, last)
        chunks = lifecycle.sub_ranges(found, first, last, RANGE_CHUNK)
        changed = 0
        progress = _progress()
        assert isinstance(progress, Progress)
        with progress:
            task = progress.add_task(f"{action.value} {first}-{last}", total=len(chunks))
            for low, high in chunks:
                with database.transaction() as session:
                    fresh = lifecycle.get_batch(session, batch)
                    operation = lifecycle.change_range(
                        session, fresh, action, low, high, actor=actor, note=note
                    )
                    changed += operation.changed_count
                progress.advance(task)
    except (lifecycle.BatchProblem, ValueError) as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"[green]{action.value}: {changed} recharge cards changed in {first}-{last}[/green]")


@vouchers_app.command("activate")
def activate_vouchers(
    batch: Annotated[str, typer.Option(help="The batch name.")], serials: Serials = None, by: By = None
) -> None:
    """Activate a batch or a serial range (shipped or sold): their value becomes a liability."""
    _change_range("activate", batch, serials, by, None)


@vouchers_app.command("block")
def block_vouchers(
    batch: Annotated[str, typer.Option(help="The batch name.")],
    serials: Serials = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded), e.g. 'box 17 stolen'.")] = None,
    by: By = None,
) -> None:
    """Block a batch or a serial range (stolen or withdrawn stock); used cards are left as they are."""
    _change_range("block", batch, serials, by, reason)


@vouchers_app.command("status")
def voucher_status(serial: Annotated[str, typer.Argument(help="The serial printed on the card.")]) -> None:
    """One recharge card: status, batch, what it buys, and every change with who and when."""
    from roamcard.models import VoucherBatch
    from roamcard.voucher import repository as voucher_repository

    with get_database().reading() as session:
        voucher = voucher_repository.get(session, serial.strip())
        if voucher is None:
            errors.print(f"[red]no recharge card {serial}[/red]")
            raise typer.Exit(2)
        found = session.get(VoucherBatch, voucher.batch_id)
        assert found is not None
        history = voucher_repository.history(session, voucher.id)
    console.print(f"recharge card {voucher.id}: [bold]{voucher.status}[/bold]")
    console.print(
        f"batch {found.name}: {found.product_name_en}, "
        f"{found.face_value_amount} {found.face_value_currency}, "
        f"valid until {found.expires_at.isoformat()}"
    )
    if voucher.order_id:
        console.print(f"redeemed as top-up {voucher.order_id} on card id {voucher.redeemed_card_id}")
    table = Table(title="history")
    for column in ("when (UTC)", "from", "to", "who / why"):
        table.add_column(column)
    table.add_row(found.created_at.isoformat(), "", "generated", found.created_by)
    for row in history:
        table.add_row(row.at.isoformat(), row.from_status or "", row.to_status, row.reason or "")
    console.print(table)


@vouchers_app.command("batch")
def voucher_batch(name: Annotated[str, typer.Argument(help="The batch name.")]) -> None:
    """A batch: how many cards are in each status, and its operations (who, when, which range)."""
    from roamcard.voucher import repository as voucher_repository

    with get_database().reading() as session:
        found = voucher_repository.get_batch_by_name(session, name)
        if found is None:
            errors.print(f"[red]no batch {name}[/red]")
            raise typer.Exit(2)
        counts = voucher_repository.status_counts(session, found)
        operations = voucher_repository.operations(session, found.id)
    console.print(
        f"batch {found.name} ({found.status}): {found.count} × {found.face_value_amount} "
        f"{found.face_value_currency} {found.product_id}, serials {found.serial_first}-{found.serial_last}"
    )
    console.print(", ".join(f"{status} {number}" for status, number in sorted(counts.items())))
    table = Table(title="operations")
    for column in ("when (UTC)", "action", "serials", "changed", "who", "note"):
        table.add_column(column)
    for op in operations:
        serial_range = f"{op.serial_first}-{op.serial_last}"
        table.add_row(
            op.at.isoformat(), op.action, serial_range, str(op.changed_count), op.actor, op.note or ""
        )
    console.print(table)


@dealers_app.command("create")
def create_dealer(
    name: Annotated[str, typer.Option(help="The shop's or distributor's name.")],
    currency: Annotated[str, typer.Option(help="USD or CNY: the float's currency.")],
    commission_bps: Annotated[int, typer.Option(help="Commission in basis points (500 = 5%).")],
    timezone: Annotated[
        str | None, typer.Option(help="For daily statements; default: the operator's.")
    ] = None,
) -> None:
    """Create a dealer; prints {"dealer_id", "api_key_id", "api_secret"} as JSON. The secret is shown
    only now: give it to the dealer's till and do not keep it."""
    from roamcard.dealer.service import manage

    try:
        with get_database().transaction() as session:
            made = manage.create_dealer(
                session,
                name=name,
                currency=currency.upper(),
                commission_bps=commission_bps,
                timezone=timezone,
            )
            dealer_id, key_id = made.dealer.public_id, made.dealer.api_key_id
    except manage.DealerProblem as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    sys.stdout.write(
        json.dumps({"dealer_id": dealer_id, "api_key_id": key_id, "api_secret": made.api_secret}) + "\n"
    )


@dealers_app.command("credit")
def credit_dealer(
    dealer_id: Annotated[str, typer.Argument(help="The dealer (dlr_…).")],
    amount: Annotated[int, typer.Option(help="Received from the dealer, in minor units (1000 = 10.00).")],
    reference: Annotated[
        str | None, typer.Option(help="The payment's reference; crediting it twice is a no-op.")
    ] = None,
) -> None:
    """Put money the dealer paid onto its prepaid float."""
    from roamcard.dealer.service import manage

    try:
        with get_database().transaction() as session:
            balance = manage.credit_float(
                session, manage.get_dealer(session, dealer_id), amount, reference=reference
            )
    except manage.DealerProblem as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"[green]{dealer_id}: float balance {balance.amount} {balance.currency}[/green]")


def _set_dealer_status(dealer_id: str, status_name: str, by: str | None) -> None:
    from roamcard.dealer.service import manage
    from roamcard.dealer.states import DealerStatus

    try:
        with get_database().transaction() as session:
            dealer = manage.get_dealer(session, dealer_id)
            changed = manage.set_status(
                session, dealer, DealerStatus(status_name), actor=f"cli:{by or _operator()}"
            )
    except manage.DealerProblem as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"{dealer_id}: {status_name}" + ("" if changed else " (already)"))


@dealers_app.command("suspend")
def suspend_dealer(
    dealer_id: Annotated[str, typer.Argument(help="The dealer (dlr_…).")], by: By = None
) -> None:
    """Refuse the dealer's POS requests from now on (its float stays as it is)."""
    _set_dealer_status(dealer_id, "suspended", by)


@dealers_app.command("resume")
def resume_dealer(
    dealer_id: Annotated[str, typer.Argument(help="The dealer (dlr_…).")], by: By = None
) -> None:
    """Accept the dealer's POS requests again."""
    _set_dealer_status(dealer_id, "active", by)


@dealers_app.command("show")
def show_dealer(dealer_id: Annotated[str, typer.Argument(help="The dealer (dlr_…).")]) -> None:
    """A dealer's status, commission, time zone and float balance (never its API secret)."""
    from roamcard.dealer.service import manage

    try:
        with get_database().reading() as session:
            dealer = manage.get_dealer(session, dealer_id)
            balance = manage.float_account(session, dealer).balance
    except manage.DealerProblem as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"{dealer.public_id} {dealer.name}: {dealer.status}, commission {dealer.commission_bps} bps, "
        f"time zone {dealer.timezone}, API key {dealer.api_key_id}, float {balance} {dealer.currency}"
    )


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


# -- purpose keys (issue 9, item 8) -------------------------------------------------------------------
keys_app = typer.Typer(help="Purpose keys derived from ROAMCARD_SECRET_KEY (docs/security.md).")
keys_app.info.no_args_is_help = True
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored secret (staff TOTP, dealer API secrets) under the current
    ROAMCARD_SECRET_KEY, so ROAMCARD_SECRET_KEY_PREVIOUS can then be dropped. Safe to run again."""
    from rich.progress import Progress

    from roamcard import keys, rotation

    database = get_database()
    progress = _progress()
    assert isinstance(progress, Progress)
    with progress:
        task = progress.add_task("re-encrypting", total=rotation.count(database))
        report = rotation.rotate(database, on_progress=lambda n: progress.advance(task, n))
    table = Table(title=f"Stored secrets, now under key {keys.current('staff-totp').key_id}")
    for column in ("what", "re-encrypted", "already current"):
        table.add_column(column)
    for name, resealed in report.resealed.items():
        table.add_row(name, str(resealed), str(report.current[name]))
    console.print(table)
    for name, row_id in report.unreadable:
        errors.print(f"[red]{name}: row {row_id} opens with no configured key; left as it is[/red]")
    if not report.ok:
        errors.print(
            "[red]keys rotate: some secrets could not be read; keep ROAMCARD_SECRET_KEY_PREVIOUS set "
            "(staff: roamcard staff reset-totp enrols a new authenticator)[/red]"
        )
        raise typer.Exit(1)
    console.print("[green]keys rotate: every stored secret is under the current key[/green]")


# -- SMS (issue 10) -----------------------------------------------------------------------------------
sms_app = typer.Typer(help="Text messages: resend one that failed.", no_args_is_help=True)
app.add_typer(sms_app, name="sms")


@sms_app.command("resend")
def resend_sms(
    notification_id: Annotated[int, typer.Argument(help="The failed message's id (back office, card page).")],
    reason: Annotated[str, typer.Option(help="Why it is sent again (recorded).")],
    by: By = None,
) -> None:
    """Send a failed message again through its route (audited)."""
    from roamcard.audit import service as audit
    from roamcard.models import Notification
    from roamcard.notification import service as sms_service

    operator = by or _operator()
    try:
        with get_database().transaction() as session:
            before = session.get(Notification, notification_id)
            before_status = before.status if before is not None else None
            message = sms_service.resend(session, notification_id)
            audit.record(
                session,
                audit.Actor(staff_id=None, email=f"cli:{operator}", role="operator"),
                "sms.resent",
                target_type="sms",
                target_id=str(message.id),
                card_id=message.card_id,
                before={"status": before_status, "provider": message.provider},
                after={"status": message.status, "route": message.route},
                reason=reason,
            )
    except sms_service.SmsNotResendable as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"sms {notification_id}: queued again ({message.route})")
