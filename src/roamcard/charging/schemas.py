"""Nchf_ConvergedCharging shapes (3GPP TS 32.291): the fields Roamcard reads; others are accepted and
ignored. Names are the spec's camelCase."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from roamcard.kit.schemas import MoneyOut


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Units(_Spec):
    totalVolume: int | None = Field(default=None, ge=0, description="Bytes (data rating groups).")
    time: int | None = Field(default=None, ge=0, description="Seconds (voice rating groups).")
    serviceSpecificUnits: int | None = Field(default=None, ge=0, description="Messages (SMS).")


class UsedUnitContainer(Units):
    """Units used since the previous report of this session (not a running total)."""


class MultipleUnitUsage(_Spec):
    ratingGroup: int = Field(ge=0)
    requestedUnit: Units | None = None
    usedUnitContainer: list[UsedUnitContainer] = Field(default_factory=list)


class PlmnId(_Spec):
    mcc: str = Field(pattern=r"^[0-9]{3}$")
    mnc: str = Field(pattern=r"^[0-9]{2,3}$")


class Tai(_Spec):
    plmnId: PlmnId | None = None


class Location(_Spec):
    tai: Tai | None = None


class UserLocation(_Spec):
    eutraLocation: Location | None = None
    nrLocation: Location | None = None


class PduSessionChargingInformation(_Spec):
    userLocationinfo: UserLocation | None = None


class ChargingDataRequest(_Spec):
    subscriberIdentifier: str | None = Field(
        default=None, description='"imsi-<IMSI>", "msisdn-<digits>" or "iccid-<ICCID>".', max_length=40
    )
    invocationSequenceNumber: int = Field(ge=0)
    invocationTimeStamp: str | None = None
    multipleUnitUsage: list[MultipleUnitUsage] = Field(default_factory=list, max_length=16)
    calledPartyAddress: str | None = Field(
        default=None,
        max_length=40,
        description='Roamcard\'s simplification of the IMS information: "tel:+1…" or "tel:911".',
    )
    pDUSessionChargingInformation: PduSessionChargingInformation | None = None

    def plmn(self) -> PlmnId | None:
        info = self.pDUSessionChargingInformation
        where = info.userLocationinfo if info is not None else None
        if where is None:
            return None
        for location in (where.eutraLocation, where.nrLocation):
            if location is not None and location.tai is not None and location.tai.plmnId is not None:
                return location.tai.plmnId
        return None


class FinalUnitIndication(BaseModel):
    finalUnitAction: Literal["TERMINATE"]


class MultipleUnitInformation(BaseModel):
    ratingGroup: int
    resultCode: str
    grantedUnit: Units | None = None
    validityTime: int | None = None
    finalUnitIndication: FinalUnitIndication | None = None


class ChargingDataResponse(BaseModel):
    invocationSequenceNumber: int
    invocationTimeStamp: str
    multipleUnitInformation: list[MultipleUnitInformation]


class UsagePaidBy(BaseModel):
    source: Literal["pack", "balance", "emergency"]
    units: int
    allowance_id: int | None = None
    product_id: str | None = None
    amount: MoneyOut | None = Field(default=None, description="What the balance paid (balance only).")


class UsageDay(BaseModel):
    date: str
    kind: Literal["data", "voice", "sms"]
    units: int = Field(description="Bytes, seconds or messages.")
    paid_by: list[UsagePaidBy]


class UsageOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    days: list[UsageDay]
