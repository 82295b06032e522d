"""Scratch databases for the benchmarks: a fresh SQLite file in a temporary folder, or a scratch
PostgreSQL database on the local server; close() removes everything made."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class ScratchDatabases:
    """Fresh databases for one run; everything made here is removed by close()."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.tmp = Path(tempfile.mkdtemp(prefix=f"roamcard-bench-{engine}-"))
        self._pg_names: list[str] = []

    def new(self, label: str) -> str:
        if self.engine == "sqlite":
            return f"sqlite:///{self.tmp / f'{label}-{uuid.uuid4().hex[:8]}.db'}"
        import psycopg

        name = f"rc_bench_{label}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        self._pg_names.append(name)
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def drop(self, url: str) -> None:
        """Remove one database made by new() now rather than at close()."""
        if self.engine == "sqlite":
            Path(url.split(":///", 1)[1]).unlink(missing_ok=True)
            return
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        self._pg_names.remove(name)

    def close(self) -> None:
        if self._pg_names:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                for name in self._pg_names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        shutil.rmtree(self.tmp, ignore_errors=True)
