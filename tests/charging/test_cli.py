"""`roamcard network-elements create|revoke`: the key is printed once, works, and stops working."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from roamcard.charging.service import network_elements
from roamcard.cli import app
from roamcard.db import Database

runner = CliRunner()


class TestNetworkElementsCli:
    def test_create_prints_a_working_key_once_and_revoke_ends_it(self, database: Database) -> None:
        result = runner.invoke(app, ["network-elements", "create", "--name", "pgw-us-1"])
        assert result.exit_code == 0, result.output
        made = json.loads(result.stdout)
        assert made["name"] == "pgw-us-1"
        assert made["id"].startswith("ne_")
        with database.tx() as tx:
            assert network_elements.authenticate(tx, f"Bearer {made['key']}") > 0
        again = runner.invoke(app, ["network-elements", "create", "--name", "pgw-us-1"])
        assert again.exit_code == 2
        assert runner.invoke(app, ["network-elements", "revoke", "--name", "pgw-us-1"]).exit_code == 0
        assert runner.invoke(app, ["network-elements", "revoke", "--name", "pgw-us-1"]).exit_code == 1
        with database.tx() as tx:
            try:
                network_elements.authenticate(tx, f"Bearer {made['key']}")
            except network_elements.NetworkElementUnauthorized:
                pass
            else:
                raise AssertionError("a revoked key still works")
