"""Periodic work the worker does between jobs. Each sweeper is one short transaction and is safe to run
on many workers at once (every change is a conditional transition)."""

from __future__ import annotations

from roamcard import tasks, wiring
from roamcard.auth import attempts as sign_in_attempts
from roamcard.card import closure as card_closure
from roamcard.card_order import service as card_orders
from roamcard.charging.service import alerts as usage_alerts
from roamcard.db import Database
from roamcard.idempotency import service as idempotency
from roamcard.jobs.worker import Worker
from roamcard.ledger import reservations
from roamcard.ledger import service as ledger
from roamcard.notification import service as sms_service
from roamcard.partner.service import manage as partner_manage
from roamcard.payment import expiry as payment_expiry
from roamcard.payment import inbox as payment_inbox
from roamcard.reseller import auth as reseller_auth
from roamcard.topup.service import expire
from roamcard.topup.service import quote as quotes
from roamcard.voucher.service import lifecycle as voucher_lifecycle


def expire_unpaid_orders(database: Database) -> int:
    with database.transaction() as session:
        return expire.expire_unpaid(session)


def release_lapsed_card_orders(database: Database) -> int:
    """Card orders whose top-up order expired or failed unpaid: their reserved profiles back to stock."""
    with database.tx() as tx:
        return card_orders.release_lapsed(tx)


def void_lapsed_reservations(database: Database) -> int:
    """Ledger holds whose validity passed (a charging session that never reported back): voided."""
    with database.tx() as tx:
        return reservations.void_lapsed(tx)


def remind_expiring_packs(database: Database) -> int:
    """Packs with something left 3 days and 1 day before they expire: one SMS each (charging/alerts)."""
    with database.tx() as tx:
        return usage_alerts.remind_expiring_packs(tx)


def expire_lapsed_packs(database: Database) -> int:
    with database.transaction() as session:
        return ledger.expire_lapsed_allowances(session)


def requeue_stuck_fulfilment(database: Database) -> int:
    with database.transaction() as session:
        return expire.requeue_stuck_fulfilment(session)


def expire_lapsed_vouchers(database: Database) -> int:
    with database.transaction() as session:
        return voucher_lifecycle.expire_lapsed(session)


def purge_request_nonces(database: Database) -> int:
    with database.transaction() as session:
        return reseller_auth.purge_old_nonces(session)


def purge_partner_calls(database: Database) -> int:
    with database.transaction() as session:
        return partner_manage.purge_old_calls(session)


def purge_idempotency_keys(database: Database) -> int:
    with database.transaction() as session:
        return idempotency.purge_expired(session)


def purge_sign_in_attempts(database: Database) -> int:
    with database.transaction() as session:
        return sign_in_attempts.purge_stale(session)


def purge_expired_quotes(database: Database) -> int:
    with database.tx() as tx:
        return quotes.purge_expired(tx)


def sweep_card_validity(database: Database) -> int:
    """The card's own lifecycle (card/closure.py): validity reminders, expiry, closure after grace."""
    with database.transaction() as session:
        return card_closure.sweep(session)


# -- payments (issue 9): nothing stays unknown, no verified notification is lost
def final_sweep_unknown_payments(database: Database) -> int:
    with database.transaction() as session:
        return payment_expiry.queue_final_sweep(session)


def redrive_unhandled_notifications(database: Database) -> int:
    with database.transaction() as session:
        return payment_inbox.redrive_unhandled_events(session)


def settle_stuck_sms(database: Database) -> int:
    with database.transaction() as session:
        return sms_service.sweep_stuck(session)


SWEEPERS = (
    expire_unpaid_orders,
    release_lapsed_card_orders,
    void_lapsed_reservations,  # before packs expire: a lapsed hold is returned, then breakage
    expire_lapsed_packs,
    remind_expiring_packs,  # charging: SMS 3 days and 1 day before a pack expires
    requeue_stuck_fulfilment,
    expire_lapsed_vouchers,
    purge_request_nonces,
    purge_partner_calls,  # the back office's recent partner calls, kept 30 days
    purge_idempotency_keys,
    purge_sign_in_attempts,  # auth: forgotten sign-in counts
    purge_expired_quotes,  # promotions: price quotes a day after they expired
    sweep_card_validity,  # 保号: reminders, expired, closed after the grace period
    final_sweep_unknown_payments,
    redrive_unhandled_notifications,
    settle_stuck_sms,
)


def build_worker(database: Database, worker_id: str | None = None) -> Worker:
    """A worker with every sweeper, for every job kind of `roamcard.tasks.TASK_MODULES` (imported above)."""
    assert tasks.TASK_MODULES
    wiring.wire()  # payment's outcomes go to top-up and refund (roamcard/wiring.py)
    return Worker(database, worker_id=worker_id, sweepers=SWEEPERS)
