"""A real server and a real browser: uvicorn on a free port against a migrated SQLite file, the outbox
worker in a thread (it delivers the sandbox gateway's signed webhooks over HTTP to that server), and
Debian's headless Chromium driven by Playwright. One server and one browser per test session; each test
gets a fresh browser context (cookies) and its own card."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from roamcard.app import create_app
from roamcard.config import get_settings
from roamcard.db import Database, set_database
from roamcard.jobs.sweepers import build_worker
from roamcard.jobs.worker import Worker
from roamcard.models import Card
from tests.factories import make_card, make_catalog

CHROMIUM = os.environ.get("ROAMCARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    database: Database
    env: dict[str, str]

    def new_card(self, **kwargs: object) -> Card:
        with self.database.transaction() as session:
            return make_card(session, **kwargs)  # type: ignore[arg-type]

    def shot(self, page: object, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


class _Env:
    """Point the settings at the live server for the duration of a `with` block."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        self.saved = {key: os.environ.get(key) for key in self.values}
        os.environ.update(self.values)
        get_settings.cache_clear()

    def __exit__(self, *_: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[LiveServer]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    path = tmp_path_factory.mktemp("live") / "roamcard.db"
    shutil.copy(sqlite_template, path)
    port = _free_port()
    env = {
        "ROAMCARD_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ROAMCARD_DATABASE_URL": f"sqlite:///{path}",
    }
    with _Env(env):
        database = Database(get_settings())
        set_database(database)
        with database.transaction() as session:
            make_catalog(session)
        app = create_app(database=database)
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
            )
        )
        thread = threading.Thread(target=server.run, name="live-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        worker: Worker = build_worker(database)
        worker.start_in_thread()
    try:
        yield LiveServer(url=env["ROAMCARD_PUBLIC_BASE_URL"], database=database, env=env)
    finally:
        worker.stop()
        server.should_exit = True
        thread.join(timeout=5)
        database.dispose()


@pytest.fixture(autouse=True)
def _live_settings(live_server: LiveServer) -> Iterator[None]:
    """Other tests in this process swap the settings and the database; take them back for this test."""
    with _Env(live_server.env):
        set_database(live_server.database)
        yield
    set_database(None)


@pytest.fixture(scope="session")
def browser(live_server: LiveServer) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def context_factory(browser: object, live_server: LiveServer) -> Iterator[object]:
    contexts: list[object] = []

    def make(**options: object) -> object:
        defaults: dict[str, object] = {
            "base_url": live_server.url,
            "locale": "en-US",
            "accept_downloads": True,
        }
        context = browser.new_context(**(defaults | options))  # type: ignore[attr-defined]
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()  # type: ignore[attr-defined]
