"""`roamcard partners …`: create a partner (prints its first API secret, once), change it (audited), rotate
its key, credit its float, suspend, resume, show."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from roamcard.db import get_database
from roamcard.partner.service import manage
from roamcard.partner.states import PartnerStatus

partners_app = typer.Typer(
    help="Partner platforms (mini-programs, agencies, resellers): their float, keys and callbacks.",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)

PartnerId = Annotated[str, typer.Argument(help="The partner (ptn_…).")]
By = Annotated[str | None, typer.Option("--by", help="Who does this (recorded); default: the OS user.")]


def _operator(by: str | None) -> str:
    import getpass

    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _fail(exc: Exception) -> typer.Exit:
    errors.print(f"[red]{exc}[/red]")
    return typer.Exit(2)


def _print_key(made: manage.CreatedKey) -> None:
    sys.stdout.write(
        json.dumps(
            {
                "partner_id": made.partner.public_id,
                "api_key_id": made.api_key_id,
                "api_secret": made.api_secret,
            }
        )
        + "\n"
    )


@partners_app.command("create")
def create_partner(
    name: Annotated[str, typer.Option(help="The platform's name.")],
    currency: Annotated[str, typer.Option(help="USD or CNY: the float's currency.")],
    callback_url: Annotated[str, typer.Option(help="Where final top-ups are POSTed (https in live mode).")],
    timezone: Annotated[
        str | None, typer.Option(help="For daily statements; default: the operator's.")
    ] = None,
    mode: Annotated[str, typer.Option(help="sandbox (sandbox cards only) or live.")] = "sandbox",
    credit_limit: Annotated[int, typer.Option(help="Post-paid limit in minor units (0: prepaid only).")] = 0,
    commission_bps: Annotated[int, typer.Option(help="Commission in basis points (500 = 5%).")] = 0,
    allow_ip: Annotated[
        list[str] | None, typer.Option(help="Accept requests only from this CIDR (repeat for more).")
    ] = None,
    products: Annotated[
        list[str] | None, typer.Option(help="Only these product ids may be sold (repeat); default: all.")
    ] = None,
) -> None:
    """Create a partner; prints {"partner_id", "api_key_id", "api_secret"} as JSON. The secret is shown
    only now: give it to the partner and do not keep it."""
    try:
        with get_database().transaction() as session:
            made = manage.create_partner(
                session,
                name=name,
                currency=currency.upper(),
                callback_url=callback_url,
                timezone=timezone,
                mode=mode,
                credit_limit=credit_limit,
                commission_bps=commission_bps,
                allow_ips=allow_ip,
                products=products,
            )
    except manage.PartnerProblem as exc:
        raise _fail(exc) from None
    _print_key(made)


@partners_app.command("update")
def update_partner(
    partner_id: PartnerId,
    callback_url: Annotated[
        str | None, typer.Option(help="Where final top-ups are POSTed (https in live mode).")
    ] = None,
    credit_limit: Annotated[
        int | None, typer.Option(help="Post-paid limit in minor units (0: prepaid only).")
    ] = None,
    allow_ip: Annotated[
        list[str] | None,
        typer.Option(help="Accept requests only from this CIDR (repeat for more); replaces the list."),
    ] = None,
    clear_allow_ips: Annotated[
        bool, typer.Option("--clear-allow-ips", help="Accept requests from any address.")
    ] = False,
    commission_bps: Annotated[int | None, typer.Option(help="Commission in basis points (500 = 5%).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the audit log).")] = None,
    by: By = None,
) -> None:
    """Change a partner's callback URL, credit limit, IP allow-list or commission, validated as at
    creation; audited (`partner.updated`, actor `cli:<who>`). Prints what changed as JSON."""
    from roamcard.audit.service import Actor

    if allow_ip and clear_allow_ips:
        raise _fail(manage.PartnerProblem("give --allow-ip or --clear-allow-ips, not both"))
    actor = Actor(staff_id=None, email=f"cli:{_operator(by)}"[:254], role="operator")
    try:
        with get_database().transaction() as session:
            partner = manage.get_partner(session, partner_id)
            changes = manage.update_partner(
                session,
                partner,
                actor=actor,
                callback_url=callback_url,
                credit_limit=credit_limit,
                allow_ips=[] if clear_allow_ips else allow_ip,
                commission_bps=commission_bps,
                reason=reason,
            )
    except manage.PartnerProblem as exc:
        raise _fail(exc) from None
    changed = {name: {"before": old, "after": new} for name, (old, new) in changes.items()}
    sys.stdout.write(json.dumps({"partner_id": partner_id, "changed": changed}) + "\n")


@partners_app.command("rotate-key")
def rotate_key(
    partner_id: PartnerId,
    overlap_hours: Annotated[
        float, typer.Option(help="How long the keys in use keep working (hours).")
    ] = manage.DEFAULT_OVERLAP.total_seconds() / 3600,
) -> None:
    """A new API key (printed once as JSON); the old one keeps working for the overlap."""
    try:
        with get_database().transaction() as session:
            made = manage.rotate_key(
                session, manage.get_partner(session, partner_id), overlap=timedelta(hours=overlap_hours)
            )
    except manage.PartnerProblem as exc:
        raise _fail(exc) from None
    _print_key(made)


@partners_app.command("credit")
def credit_partner(
    partner_id: PartnerId,
    amount: Annotated[int, typer.Option(help="Received from the partner, in minor units (1000 = 10.00).")],
    reference: Annotated[
        str | None, typer.Option(help="The payment's reference; crediting it twice is a no-op.")
    ] = None,
) -> None:
    """Put money the partner paid onto its float (a ledger transfer)."""
    try:
        with get_database().transaction() as session:
            balance = manage.credit_float(
                session, manage.get_partner(session, partner_id), amount, reference=reference
            )
    except manage.PartnerProblem as exc:
        raise _fail(exc) from None
    console.print(f"[green]{partner_id}: float balance {balance.amount} {balance.currency}[/green]")


def _set_status(partner_id: str, status: PartnerStatus, by: str | None) -> None:
    try:
        with get_database().transaction() as session:
            partner = manage.get_partner(session, partner_id)
            changed = manage.set_status(session, partner, status, actor=f"cli:{_operator(by)}")
    except manage.PartnerProblem as exc:
        raise _fail(exc) from None
    console.print(f"{partner_id}: {status.value}" + ("" if changed else " (already)"))


@partners_app.command("suspend")
def suspend_partner(partner_id: PartnerId, by: By = None) -> None:
    """Refuse the partner's requests from now on (403; its float stays as it is)."""
    _set_status(partner_id, PartnerStatus.SUSPENDED, by)


@partners_app.command("resume")
def resume_partner(partner_id: PartnerId, by: By = None) -> None:
    """Accept the partner's requests again."""
    _set_status(partner_id, PartnerStatus.ACTIVE, by)


@partners_app.command("show")
def show_partner(partner_id: PartnerId) -> None:
    """The partner as JSON: status, mode, limits, float balance and keys (never a secret)."""
    try:
        with get_database().reading() as session:
            shown = manage.describe(session, manage.get_partner(session, partner_id))
    except manage.PartnerProblem as exc:
        raise _fail(exc) from None
    sys.stdout.write(json.dumps(shown) + "\n")
