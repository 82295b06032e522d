"""What `roamcard serve` runs: how many server processes, and the entry points uvicorn imports in each
(one per worker mode), so `--processes N` works.

`--processes auto` (the default) is one process per core on PostgreSQL and one on SQLite. SQLite has one
writer: more processes would only queue on its lock (arbitrated by the busy handler) and add CPU, while
one process answers its writes in turn. Unless `--no-worker`, every process runs a job worker thread:
workers claim with `FOR UPDATE SKIP LOCKED`, so several are safe; each is woken by its own process's
commits that queue a job, so no job waits for a poll, and the work stays spread over the processes (one
process holding the only worker would be the first to run out of its core).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from roamcard.app import create_app


def cores() -> int:
    """The CPUs this process may run on: its affinity mask (narrowed by taskset or a cpuset), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity outside Linux
        return os.cpu_count() or 1


def resolve_processes(processes: str, *, is_sqlite: bool) -> int:
    """`auto`, or a whole number of at least 1 (ValueError otherwise)."""
    if processes == "auto":
        return 1 if is_sqlite else cores()
    if not processes.isdecimal() or int(processes) < 1:
        raise ValueError("auto or a whole number of at least 1")
    return int(processes)


def app_with_worker() -> FastAPI:
    return create_app(run_worker=True)


def app_without_worker() -> FastAPI:
    return create_app(run_worker=False)


def app_factory_path(with_worker: bool) -> str:
    return "roamcard.server:app_with_worker" if with_worker else "roamcard.server:app_without_worker"
