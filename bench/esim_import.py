"""`roamcard esim import` of a large delivery file, on a fresh database of each engine.

    PYTHONPATH=src .venv/bin/python bench/esim_import.py --rows 100000 --engine sqlite
    PYTHONPATH=src .venv/bin/python bench/esim_import.py --rows 100000 --engine postgresql

Writes a CSV of N valid profiles (every 10th with a confirmation code, every 5th data-only), migrates a
fresh database (an SQLite file in a temporary directory, or a scratch database on
postgresql://postgres@127.0.0.1:5432, dropped afterwards) and times the import in one transaction as the
command does. Baseline in the same run: reading and checking the rows alone (no database), so the figure
shows what the bulk insert adds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from roamcard import migrate
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.esim.service import inventory
from roamcard.kit import luhn

HEADER = "iccid,imsi,msisdn,smdp_address,matching_id,confirmation_code_required,confirmation_code"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def write_file(path: Path, rows: int) -> None:
    with path.open("w") as handle:
        handle.write(HEADER + "\n")
        for serial in range(rows):
            payload = f"8901260{serial:011d}"
            iccid = payload + luhn.check_digit(payload)
            msisdn = (
                ""
                if serial % 5 == 0
                else f"+1{202 + serial // 10_000_000}{5550000 + serial % 10_000_000:07d}"
            )
            code = f"{serial % 10000:04d}" if serial % 10 == 0 else ""
            flag = "1" if code else "0"
            handle.write(
                f"{iccid},310260{serial:09d},{msisdn},smdp.example.com,RC-{serial:010d},{flag},{code}\n"
            )


def check_only(path: Path) -> float:
    started = time.perf_counter()
    for _line, row in inventory._read_rows(path):
        inventory.check_row(row)
    return time.perf_counter() - started


def run(url: str, path: Path) -> tuple[float, int, int]:
    migrate.upgrade(url)
    database = Database(get_settings().model_copy(update={"database_url": url}))
    started = time.perf_counter()
    with database.transaction() as session:
        report = inventory.import_file(session, path)
    elapsed = time.perf_counter() - started
    database.dispose()
    return elapsed, report.loaded, len(report.rejected)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    os.environ.setdefault("ROAMCARD_ENVIRONMENT", "development")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "profiles.csv"
        write_file(path, args.rows)
        baseline = check_only(path)
        if args.engine == "sqlite":
            elapsed, loaded, rejected = run(f"sqlite:///{directory}/bench.db", path)
        else:
            name = f"rc_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                elapsed, loaded, rejected = run(f"{POSTGRES}/{name}", path)
            finally:
                with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{args.engine}: {args.rows} rows, loaded {loaded}, rejected {rejected}")
    print(f"  import:   {elapsed:6.1f} s  ({args.rows / elapsed:,.0f} rows/s)")
    print(f"  baseline: {baseline:6.1f} s  reading and checking the rows alone")


if __name__ == "__main__":
    main()
