"""Entry points uvicorn imports (one per worker mode), so `--processes N` works."""

from __future__ import annotations

from fastapi import FastAPI

from roamcard.app import create_app


def app_with_worker() -> FastAPI:
    return create_app(run_worker=True)


def app_without_worker() -> FastAPI:
    return create_app(run_worker=False)


def app_factory_path(with_worker: bool) -> str:
    return "roamcard.server:app_with_worker" if with_worker else "roamcard.server:app_without_worker"
