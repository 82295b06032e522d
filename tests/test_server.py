"""`roamcard serve`: the processes `--processes auto` starts on each engine, and where the job worker runs."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from roamcard import cli, server
from roamcard.config import get_settings
from roamcard.db import Database

runner = CliRunner()
POSTGRES = "postgresql://roamcard@127.0.0.1:5432/roamcard"


class TestProcessCount:
    def test_auto_is_one_process_on_sqlite_and_one_per_core_on_postgresql(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
        assert server.resolve_processes("auto", is_sqlite=True) == 1
        assert server.resolve_processes("auto", is_sqlite=False) == 3

    def test_cores_follow_the_affinity_mask_else_the_cpu_count(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {1, 3}, raising=False)
        monkeypatch.setattr(os, "cpu_count", lambda: 8)
        assert server.cores() == 2
        monkeypatch.delattr(os, "sched_getaffinity", raising=False)
        assert server.cores() == 8
        monkeypatch.setattr(os, "cpu_count", lambda: None)
        assert server.cores() == 1

    def test_a_number_is_taken_as_given_on_either_engine(self) -> None:
        assert server.resolve_processes("3", is_sqlite=True) == 3
        assert server.resolve_processes("1", is_sqlite=False) == 1

    @pytest.mark.parametrize("bad", ["0", "-2", "two", ""])
    def test_anything_else_is_refused(self, bad: str) -> None:
        with pytest.raises(ValueError, match="auto or a whole number"):
            server.resolve_processes(bad, is_sqlite=False)


class TestServeCommand:
    """What `roamcard serve` hands uvicorn (uvicorn itself is not started)."""

    @pytest.fixture
    def uvicorn_run(self, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
        import uvicorn

        calls: list[dict[str, Any]] = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
        monkeypatch.setattr(server, "cores", lambda: 4)
        return calls

    def on_postgresql(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = get_settings().model_copy(update={"database_url": POSTGRES})
        monkeypatch.setattr(cli, "get_settings", lambda: settings)

    def test_default_on_sqlite_is_one_process_with_its_worker(
        self, uvicorn_run: list[dict[str, Any]]
    ) -> None:
        result = runner.invoke(cli.app, ["serve"])
        assert result.exit_code == 0, result.output
        assert [(call["app"], call["workers"]) for call in uvicorn_run] == [
            ("roamcard.server:app_with_worker", 1)
        ]
        assert "1 server process with a job worker" in " ".join(result.stdout.split())

    def test_default_on_postgresql_is_a_process_per_core_each_with_a_worker(
        self, uvicorn_run: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.on_postgresql(monkeypatch)
        result = runner.invoke(cli.app, ["serve"])
        assert result.exit_code == 0, result.output
        assert [(call["app"], call["workers"], call["factory"]) for call in uvicorn_run] == [
            ("roamcard.server:app_with_worker", 4, True)
        ]
        assert "4 server processes, a job worker in each" in " ".join(result.stdout.split())

    def test_no_worker_and_an_explicit_count(
        self, uvicorn_run: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.on_postgresql(monkeypatch)
        result = runner.invoke(cli.app, ["serve", "--no-worker", "--processes", "2"])
        assert result.exit_code == 0, result.output
        assert [(call["app"], call["workers"]) for call in uvicorn_run] == [
            ("roamcard.server:app_without_worker", 2)
        ]

    def test_a_bad_count_exits_2_before_serving(self, uvicorn_run: list[dict[str, Any]]) -> None:
        result = runner.invoke(cli.app, ["serve", "--processes", "many"])
        assert result.exit_code == 2
        assert uvicorn_run == []


def _worker_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "roamcard-worker")


class TestWorkerPlacement:
    """uvicorn calls the factory once in each server process: every process runs its own worker thread
    for as long as it serves, unless --no-worker."""

    def test_each_process_app_runs_a_worker_while_it_serves(self, database: Database) -> None:
        before = _worker_threads()
        with TestClient(server.app_with_worker()) as client:
            assert client.get("/healthz").status_code == 200
            assert _worker_threads() == before + 1
        for thread in threading.enumerate():
            if thread.name == "roamcard-worker":
                thread.join(timeout=10)
        assert _worker_threads() == before

    def test_without_worker_no_thread_starts(self, database: Database) -> None:
        before = _worker_threads()
        with TestClient(server.app_without_worker()) as client:
            assert client.get("/healthz").status_code == 200
            assert _worker_threads() == before
