"""`roamcard reconcile --provider … FILE` on the sample bills shipped here (Alipay GBK CSV, WeChat Pay
trade bill, Stripe balance transactions): per day, matched / missing on either side / mismatches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import Payment, Refund, TopupOrder
from roamcard.reconcile import parsers
from tests.factories import make_card

SAMPLES = Path(__file__).parent / "samples"
FILES = {
    "alipay": SAMPLES / "alipay_20261124_trade.csv",
    "wechat_pay": SAMPLES / "wechat_pay_20261124_tradebill.csv",
    "stripe": SAMPLES / "stripe_20261124_balance_transactions.csv",
}
# (price, refund) in the bill's currency, and the zone whose day the gateway reports in.
TERMS = {
    "alipay": ("CNY", 7200, 1000, timezone(timedelta(hours=8))),
    "wechat_pay": ("CNY", 7200, 1000, timezone(timedelta(hours=8))),
    "stripe": ("USD", 1000, 139, UTC),
}
runner = CliRunner()


def our_books(database: Database, provider: str) -> None:
    """Matched, wrong amount, still pending, paid but absent from the bill; and one matched refund."""
    currency, price, refunded, zone = TERMS[provider]
    at = datetime(2026, 11, 24, 10, 0, tzinfo=zone)
    with database.transaction() as session:
        card = make_card(session)
        rows = [
            ("pay_recmatched0000000001", price, "succeeded", at),
            ("pay_recamount00000000002", price // 2, "succeeded", at + timedelta(hours=1)),
            ("pay_recstatus00000000003", price, "pending", at + timedelta(hours=2)),
            ("pay_recmissing0000000005", price, "succeeded", at + timedelta(hours=4)),
        ]
        for index, (payment_id, amount, status, when) in enumerate(rows):
            order_id = f"top_rec{index:017d}"
            session.add(
                TopupOrder(
                    id=order_id,
                    card_id=card.id,
                    channel="api",
                    product_id="balance-10",
                    product_kind="balance",
                    product_name_en="$10",
                    product_name_zh="10 美元",
                    grants=[],
                    price_amount=amount,
                    price_currency=currency,
                    status="fulfilled" if status == "succeeded" else "pending_payment",
                    payment_method=provider,
                    created_at=when,
                    updated_at=when,
                    pay_by=when + timedelta(minutes=30),
                )
            )
            session.flush()
            session.add(
                Payment(
                    id=payment_id,
                    order_id=order_id,
                    provider=provider,
                    amount=amount,
                    currency=currency,
                    status=status,
                    created_at=when,
                    updated_at=when,
                )
            )
        session.flush()
        done = at + timedelta(hours=5, minutes=30)
        session.add(
            Refund(
                id="rfd_recmatched0000000001",
                order_id="top_rec00000000000000000",
                payment_id="pay_recmatched0000000001",
                card_id=card.id,
                kind="customer",
                amount=refunded,
                currency=currency,
                status="succeeded",
                reason="test",
                reversals=[],
                created_at=done,
                updated_at=done,
                completed_at=done,
            )
        )


@pytest.mark.parametrize("provider", sorted(FILES))
def test_each_kind_of_difference_is_reported_for_its_day(database: Database, provider: str) -> None:
    our_books(database, provider)
    result = runner.invoke(app, ["reconcile", "--provider", provider, str(FILES[provider])])
    assert result.exit_code == 1, result.output
    assert "2026-11-24" in result.stdout
    # day | matched | missing on our side | missing at the gateway | amount | status
    row = next(line for line in result.stdout.splitlines() if "2026-11-24" in line)
    assert [cell.strip() for cell in row.strip("│┃ ").split("│")] == ["2026-11-24", "2", "1", "1", "1", "1"]
    assert "missing on our side: payment pay_recunknown0000000004" in result.output
    assert "missing at the gateway: payment pay_recmissing0000000005" in result.output
    assert "amount mismatch: payment pay_recamount00000000002" in result.output
    assert "status mismatch: payment pay_recstatus00000000003" in result.output


@pytest.mark.parametrize("provider", sorted(FILES))
def test_the_parsers_read_the_gateways_files(provider: str) -> None:
    lines = parsers.parse(provider, FILES[provider])
    assert [line.kind for line in lines] == ["payment"] * 4 + ["refund"]
    assert lines[-1].reference == "rfd_recmatched0000000001"
    assert {line.day.isoformat() for line in lines} == {"2026-11-24"}


def test_a_file_of_another_gateway_is_refused(database: Database) -> None:
    result = runner.invoke(app, ["reconcile", "--provider", "alipay", str(FILES["stripe"])])
    assert result.exit_code == 2
    result = runner.invoke(app, ["reconcile", "--provider", "paypal", str(FILES["stripe"])])
    assert result.exit_code == 2


def test_a_clean_day_exits_0(database: Database, tmp_path: Path) -> None:
    our_books(database, "stripe")
    lines = FILES["stripe"].read_text().splitlines()
    with database.transaction() as session:  # settle our side so it agrees with the bill
        session.get(Payment, "pay_recamount00000000002").amount = 1000  # type: ignore[union-attr]
        session.get(Payment, "pay_recstatus00000000003").status = "succeeded"  # type: ignore[union-attr]
        session.delete(session.get(Refund, "rfd_recmatched0000000001"))
        session.flush()
        session.delete(session.get(Payment, "pay_recmissing0000000005"))
    kept = [line for line in lines if "unknown" not in line and "refund" not in line.split(",")[1]]
    bill = tmp_path / "bill.csv"
    bill.write_text("\n".join(kept) + "\n")
    result = runner.invoke(app, ["reconcile", "--provider", "stripe", str(bill)])
    assert result.exit_code == 0, result.output
