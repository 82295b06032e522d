"""Read the gateways' own files into one shape.

* Alipay: the trade-detail bill (业务明细), GBK CSV; `#` comment lines around a header row that starts
  with 支付宝交易号; 业务类型 交易 (payment) or 退款 (refund, with the out_request_no); amounts in yuan.
* WeChat Pay: the trade bill (交易账单, bill_type=ALL), UTF-8 CSV whose every cell starts with a backtick,
  followed by a summary block (总交易单数 …); 交易状态 REFUND rows carry the out_refund_no.
* Stripe: the balance-transactions export (CSV); `charge`/`payment` and `refund` rows; our ids come from
  the `payment_id (metadata)` / `refund_id (metadata)` columns (or `pay_…` in the description).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import InvalidOperation
from pathlib import Path

from roamcard.kit.money import Money


class BillFormatError(ValueError):
    pass


@dataclass(frozen=True)
class GatewayLine:
    day: date
    kind: str  # "payment" | "refund"
    reference: str  # our id: payment id (out_trade_no) or refund id (out_request_no / out_refund_no)
    gateway_id: str
    amount: int  # minor units, positive
    currency: str
    status: str  # "success", or the gateway's own word for anything else


def _minor(text: str, currency: str) -> int:
    try:
        return abs(Money.from_decimal_string(text.replace(",", "").strip() or "0", currency).amount)
    except (InvalidOperation, ValueError) as exc:
        raise BillFormatError(f"not an amount: {text!r}") from exc


def _day(text: str) -> date:
    text = text.strip()
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 (the gateway's local day)
        except ValueError:
            continue
    raise BillFormatError(f"not a time: {text!r}")


def parse_alipay(raw: bytes) -> list[GatewayLine]:
    try:
        text = raw.decode("gbk")
    except UnicodeDecodeError as exc:
        raise BillFormatError("an Alipay bill is GBK text") from exc
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].lstrip().startswith("#")]
    cells = [[c.strip().strip("\t") for c in row] for row in rows]
    try:
        header_at = next(i for i, row in enumerate(cells) if row[0] == "支付宝交易号")
    except StopIteration as exc:
        raise BillFormatError("no 支付宝交易号 header row") from exc
    header = cells[header_at]
    column = {name: header.index(name) for name in header}
    needed = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "退款批次号/请求号")
    if missing := [n for n in needed if n not in column]:
        raise BillFormatError(f"missing columns: {', '.join(missing)}")
    lines = []
    for row in cells[header_at + 1 :]:
        if len(row) < len(header):
            continue
        kind = {"交易": "payment", "退款": "refund"}.get(row[column["业务类型"]])
        if kind is None:
            continue
        reference = row[column["商户订单号"]] if kind == "payment" else row[column["退款批次号/请求号"]]
        lines.append(
            GatewayLine(
                day=_day(row[column["完成时间"]]),
                kind=kind,
                reference=reference,
                gateway_id=row[column["支付宝交易号"]],
                amount=_minor(row[column["订单金额（元）"]], "CNY"),
                currency="CNY",
                status="success",
            )
        )
    return lines


def parse_wechat_pay(raw: bytes) -> list[GatewayLine]:
    text = raw.decode("utf-8-sig")
    rows = [[c.strip().lstrip("`") for c in row] for row in csv.reader(io.StringIO(text)) if row]
    if not rows or rows[0][0] != "交易时间":
        raise BillFormatError("a WeChat Pay trade bill starts with 交易时间")
    header = rows[0]
    column = {name: header.index(name) for name in header}
    lines = []
    for row in rows[1:]:
        if row[0] == "总交易单数":
            break
        if len(row) < len(header):
            continue
        currency = row[column["货币种类"]] or "CNY"
        if row[column["交易状态"]] == "REFUND":
            lines.append(
                GatewayLine(
                    day=_day(row[column["交易时间"]]),
                    kind="refund",
                    reference=row[column["商户退款单号"]],
                    gateway_id=row[column["微信退款单号"]],
                    amount=_minor(row[column["退款金额"]], currency),
                    currency=currency,
                    status="success" if row[column["退款状态"]] == "SUCCESS" else row[column["退款状态"]],
                )
            )
            continue
        state = row[column["交易状态"]]
        lines.append(
            GatewayLine(
                day=_day(row[column["交易时间"]]),
                kind="payment",
                reference=row[column["商户订单号"]],
                gateway_id=row[column["微信订单号"]],
                amount=_minor(row[column["订单金额"]], currency),
                currency=currency,
                status="success" if state == "SUCCESS" else state,
            )
        )
    return lines


_PAYMENT_ID = re.compile(r"\bpay_[0-9a-z]{20}\b")


def parse_stripe(raw: bytes) -> list[GatewayLine]:
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    fields = reader.fieldnames or []
    if not {"id", "Type", "Amount", "Currency", "Created (UTC)"} <= set(fields):
        raise BillFormatError(
            "a Stripe balance-transactions export has id, Type, Amount, Currency, Created (UTC)"
        )
    lines = []
    for row in reader:
        kind = {"charge": "payment", "payment": "payment", "refund": "refund"}.get(row["Type"].strip())
        if kind is None:
            continue  # payouts, fees, adjustments: not ours to match
        currency = row["Currency"].strip().upper()
        if kind == "payment":
            reference = (row.get("payment_id (metadata)") or "").strip()
            if not reference and (found := _PAYMENT_ID.search(row.get("Description") or "")):
                reference = found.group(0)
        else:
            reference = (row.get("refund_id (metadata)") or "").strip()
        try:
            amount = abs(Money.from_decimal_string(row["Amount"].replace(",", ""), currency).amount)
        except (InvalidOperation, ValueError) as exc:
            raise BillFormatError(f"not an amount: {row['Amount']!r}") from exc
        lines.append(
            GatewayLine(
                day=_day(row["Created (UTC)"]),
                kind=kind,
                reference=reference,
                gateway_id=(row.get("Source") or row["id"]).strip(),
                amount=amount,
                currency=currency,
                status="success",
            )
        )
    return lines


PARSERS = {"alipay": parse_alipay, "wechat_pay": parse_wechat_pay, "stripe": parse_stripe}


def parse(provider: str, path: Path) -> list[GatewayLine]:
    return PARSERS[provider](path.read_bytes())


__all__ = ["PARSERS", "BillFormatError", "GatewayLine", "parse"]
