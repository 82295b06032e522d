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
    "(late_payment_failed). Alert when above 0.",
    ["problem"],
)
