from __future__ import annotations

from datetime import datetime

from roamcard.esim.service.install import EsimView
from roamcard.kit.schemas import Schema

QR_SVG_URL = "/api/v1/card/esim/qr.svg"
QR_PNG_URL = "/api/v1/card/esim/qr.png"


class EsimOut(Schema):
    iccid: str
    status: str
    install_state: str
    msisdn: str | None
    activation_code: str
    qr_svg_url: str
    qr_png_url: str
    ios_install_url: str
    smdp_address: str
    matching_id: str
    confirmation_code_required: bool
    installed_at: datetime | None
    last_event_at: datetime | None

    @classmethod
    def of(cls, view: EsimView) -> EsimOut:
        return cls(
            iccid=view.iccid,
            status=view.status,
            install_state=view.install_state,
            msisdn=view.msisdn,
            activation_code=view.code.to_string(),
            qr_svg_url=QR_SVG_URL,
            qr_png_url=QR_PNG_URL,
            ios_install_url=view.ios_install_url,
            smdp_address=view.code.smdp_address,
            matching_id=view.code.matching_id,
            confirmation_code_required=view.code.confirmation_code_required,
            installed_at=view.installed_at,
            last_event_at=view.last_event_at,
        )
