"""`roamcard network-elements …`: the charging API's callers and their keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from roamcard.charging.service import cdr, network_elements
from roamcard.db import get_database

network_elements_app = typer.Typer(
    help="Network elements (PGW/SMF, IMS, SMSC) that call the charging API.", no_args_is_help=True
)
cdr_app = typer.Typer(help="Offline charging records (CDRs) from the network.", no_args_is_help=True)
errors = Console(stderr=True)
console = Console()
NameOption = Annotated[str, typer.Option(help="A name for the element, e.g. pgw-us-1.", min=1)]


@network_elements_app.command("create")
def create(name: NameOption) -> None:
    """Make a network element; prints {"id", "name", "key"} as JSON. The key is shown only now (only its
    keyed hash is stored): configure it on the element as `Authorization: Bearer <key>`."""
    try:
        with get_database().tx() as tx:
            made = network_elements.create(tx, name.strip())
    except network_elements.NetworkElementExists:
        errors.print(f"[red]a network element named {name!r} exists already[/red]")
        raise typer.Exit(2) from None
    sys.stdout.write(json.dumps({"id": made.public_id, "name": made.name, "key": made.key}) + "\n")


@network_elements_app.command("revoke")
def revoke(name: NameOption) -> None:
    """Revoke an element's key: its next request is refused (401)."""
    with get_database().tx() as tx:
        revoked = network_elements.revoke(tx, name.strip())
    if not revoked:
        errors.print(f"[red]no active network element named {name!r}[/red]")
        raise typer.Exit(1)
    sys.stdout.write(f"revoked {name}\n")


@cdr_app.command("import")
def import_cdrs(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    batch_size: Annotated[
        int, typer.Option(help="Records per transaction.", min=1, max=10000)
    ] = cdr.BATCH_SIZE,
    workers: Annotated[
        int, typer.Option(help="Threads rating at once on PostgreSQL (SQLite: always 1).", min=1, max=16)
    ] = cdr.WORKERS,
) -> None:
    """Rate a CSV of call, SMS and data records (record_id,imsi,started_at,kind,units,called,mcc,mnc) like
    online charging. Importing a file again changes nothing; rejected rows are listed and the command exits
    1 (the other rows are imported)."""
    with file.open("rb") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
    with (
        Progress(
            TextColumn("rating records"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
        ) as progress,
        file.open(newline="", encoding="utf-8-sig") as stream,
    ):
        task = progress.add_task("rate", total=total)
        report = cdr.import_rows(
            get_database(),
            cdr.read_rows(stream),
            batch_size=batch_size,
            workers=workers,
            on_progress=lambda rows: progress.advance(task, rows),
        )
    if report.rejected:
        table = Table(title=f"{len(report.rejected)} rejected rows; nothing was written for them")
        for column in ("row", "record_id", "field", "reason"):
            table.add_column(column)
        for rejection in report.rejected:
            table.add_row(str(rejection.line), rejection.record_id or "", rejection.field, rejection.reason)
        errors.print(table)
    charged = ", ".join(f"{amount} {currency} (minor units)" for currency, amount in report.charged.items())
    console.print(
        f"rated {report.rated} records ({report.emergency} emergency, zero-rated), "
        f"{report.unchanged} already imported, {len(report.rejected)} rejected; "
        f"balance charged: {charged or 'nothing'}"
    )
    if report.short:
        unpaid = ", ".join(f"{units} {kind}" for kind, units in sorted(report.units_unpaid.items()))
        console.print(
            f"[yellow]{report.short} records could not be paid in full; not charged: {unpaid} "
            "(units: bytes, seconds, messages)[/yellow]"
        )
    if report.rejected:
        raise typer.Exit(1)
