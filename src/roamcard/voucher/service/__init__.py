"""Voucher use cases: generate, change status by range, sell, redeem, expire.

`redeem` is the one entry point every channel uses (API, portal, IVR)."""

from roamcard.voucher.service.redeem import redeem, redeem_once, redeem_request

__all__ = ["redeem", "redeem_once", "redeem_request"]
