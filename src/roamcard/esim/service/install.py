"""What the install page shows: the card's current profile, its activation code and its QR images.

The activation code and the QR are shown only to the card holder (and staff), never logged and never
cached by shared caches (the endpoints send `Cache-Control: private, no-store`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.errors import NotFound
from roamcard.esim.activation_code import ActivationCode
from roamcard.esim.states import HELD_BY_CARD, EsimStatus
from roamcard.models import EsimProfile

IOS_INSTALL = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="


class EsimNotIssued(NotFound):
    code = "esim_not_issued"
    message = "This card has no eSIM profile yet."


@dataclass(frozen=True)
class EsimView:
    iccid: str
    status: EsimStatus
    msisdn: str | None
    code: ActivationCode
    installed_at: datetime | None
    last_event_at: datetime | None

    @property
    def ios_install_url(self) -> str:
        return IOS_INSTALL + quote(self.code.qr_text(), safe="")

    @property
    def install_state(self) -> str:
        """The dashboard's words: not installed yet / installed / active."""
        if self.status == EsimStatus.ENABLED:
            return "active"
        if self.status in (EsimStatus.INSTALLED, EsimStatus.DISABLED):
            return "installed"
        return "not_installed"


def current_profile(session: Session, card_id: int) -> EsimProfile | None:
    return session.scalars(
        select(EsimProfile)
        .where(EsimProfile.card_id == card_id, EsimProfile.status.in_([str(s) for s in HELD_BY_CARD]))
        .order_by(EsimProfile.id.desc())
        .limit(1)
    ).first()


def view_for_card(session: Session, card_id: int) -> EsimView:
    profile = current_profile(session, card_id)
    if profile is None:
        raise EsimNotIssued()
    return EsimView(
        iccid=profile.iccid,
        status=EsimStatus(profile.status),
        msisdn=profile.msisdn,
        code=ActivationCode(
            smdp_address=profile.smdp_address,
            matching_id=profile.matching_id,
            confirmation_code_required=profile.confirmation_code_required,
        ),
        installed_at=profile.installed_at,
        last_event_at=profile.last_event_at,
    )


def _qr(code: ActivationCode) -> segno.QRCode:
    # Error correction M: scannable from another screen at a modest size.
    return segno.make_qr(code.qr_text(), error="m")


def qr_svg(code: ActivationCode, *, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="svg", scale=scale, border=4, xmldecl=False, title="eSIM QR")
    return buffer.getvalue()


def qr_png(code: ActivationCode, *, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
