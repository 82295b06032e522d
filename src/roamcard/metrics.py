"""Prometheus metrics (scraped at /metrics). One registry per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Histogram(
    "roamcard_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOBS = Counter("roamcard_jobs_total", "Jobs run by this process's worker.", ["kind", "outcome"])
TOPUPS_FULFILLED = Counter("roamcard_topups_fulfilled_total", "Top-up orders fulfilled.", ["channel"])
REFUNDS_FAILED = Counter("roamcard_refunds_failed_total", "Refunds the gateway did not pay back.", ["kind"])
# Refreshed from the database on every scrape, so every process reports the same figure.
REFUNDS_NEEDING_ATTENTION = Gauge(
    "roamcard_refunds_needing_attention",
    "Refunds staff must look at: their job died (job_dead) or a late payment could not be refunded "
    "(late_payment_failed), or a cancelled card's refund was refused or rejected (card_cancelled_unpaid). "
    "Alert when above 0.",
    ["problem"],
)
# Payments (issue 9): alert on any increase of these.
PAYMENT_NOTIFICATION_MISMATCHES = Counter(
    "roamcard_payment_notification_mismatches_total",
    "Verified gateway notifications whose amount or currency does not match our records (held for staff).",
    ["source"],
)
PAYMENTS_FINAL_SWEPT = Counter(
    "roamcard_payments_final_swept_total",
    "Payments still unknown at the final-sweep delay, by what the last query answered.",
    ["outcome"],
)
INBOX_EVENTS_REDRIVEN = Counter(
    "roamcard_inbox_events_redriven_total",
    "Verified notifications left unhandled and queued again.",
    ["source"],
)
DISPUTES_OPENED = Counter("roamcard_disputes_opened_total", "Chargebacks recorded.", ["provider"])
# Signed APIs (the POS API, the partner API): refused signatures, by reason only (a label per key id would
# let any caller grow the series without bound). The log line `<api>.rejected` names the key id.
SIGNED_API_REFUSED = Counter(
    "roamcard_signed_api_refused_total",
    "Signed API requests refused with a 401 (missing, timestamp, signature, replay).",
    ["api", "reason"],
)
