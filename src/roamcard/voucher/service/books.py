"""The voucher accounts. Per currency, all operator-side (balances derived from transfers):

* `voucher_liability`: the face value of every active voucher — sold, not yet redeemed or expired.
* `voucher_issued`: where value activated by staff comes from (stock shipped to a distributor that pays
  outside the system); a dealer's sale is funded by its float instead (dealer/service.py).
* `sales`: redemption recognises the face value as sales, as a captured payment does; the card is then
  credited by the same fulfilment as a paid order (`issued` -> wallet or pack).
* `voucher_breakage`: the value of vouchers that expired unredeemed.
* `voucher_blocked`: the value of active vouchers withdrawn by a block (stolen after activation).

So the liability's balance always equals the face value of the active vouchers
(`repository.active_face_value_by_currency`), and every asset still sums to zero.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.ledger import service as ledger
from roamcard.models import LedgerAccount

LIABILITY = "voucher_liability"
ISSUED = "voucher_issued"
SALES = "sales"
BREAKAGE = "voucher_breakage"
BLOCKED = "voucher_blocked"


def account(session: Session, purpose: str, currency: str) -> LedgerAccount:
    return ledger.operator_account(session, purpose, currency)


def liability(session: Session, currency: str) -> LedgerAccount:
    return account(session, LIABILITY, currency)
