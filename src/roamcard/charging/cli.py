"""`roamcard network-elements …`: the charging API's callers and their keys."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from roamcard.charging.service import network_elements
from roamcard.db import get_database

network_elements_app = typer.Typer(
    help="Network elements (PGW/SMF, IMS, SMSC) that call the charging API.", no_args_is_help=True
)
errors = Console(stderr=True)
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
