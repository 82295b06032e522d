"""Alibaba Cloud SMS (Dysmsapi 2017-05-25) through `alibabacloud-dysmsapi20170525`.

Chinese carriers accept only approved signatures and templates, so a message is sent as SendSms with
SignName (ROAMCARD_ALIYUN_SMS_SIGN_NAME), TemplateCode (ROAMCARD_ALIYUN_SMS_TEMPLATES[message type]) and
TemplateParam, the JSON of the message's parameters; OutId is our key. The SDK signs each request with
ACS3-HMAC-SHA256. Delivery is pulled with QuerySendDetails (by BizId, or by OutId among the day's messages
to the number when the send's answer was lost); SmsReport pushes only make us ask sooner.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from darabonba.exceptions import DaraException, UnretryableException
from darabonba.runtime import RuntimeOptions

from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.notification.providers.base import (
    Lookup,
    OutgoingSms,
    Report,
    SmsNotAccepted,
    SmsRejected,
    SmsUncertain,
)

# SendDate and the report times are Beijing time.
BEIJING = ZoneInfo("Asia/Shanghai")
# Codes that say this message can never go as it is (help.aliyun.com, "短信发送错误码").
REJECTED = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.PARAM_NOT_SUPPORT_URL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.SMS_CONTENT_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.DENY_IP_RANGE",
    }
)
# QuerySendDetails SendStatus: 1 waiting for the receipt, 2 failed, 3 delivered.
WAITING, FAILED, DELIVERED = 1, 2, 3
# How long after an unanswered send an absent message is known not to have been taken.
LISTING_DELAY = timedelta(minutes=5)


def missing_templates(templates: dict[str, str], message_types: set[str]) -> list[str]:
    return sorted(name for name in message_types if not templates.get(name))


class AliyunSmsProvider:
    name = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: dict[str, str],
        endpoint: str,
        region: str,
        timeout_seconds: float,
        protocol: str = "HTTPS",
    ) -> None:
        config = openapi_models.Config(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            endpoint=endpoint,
            region_id=region,
            protocol=protocol,
            connect_timeout=int(timeout_seconds * 1000),
            read_timeout=int(timeout_seconds * 1000),
        )
        self.client = Client(config)
        self.sign_name = sign_name
        self.templates = templates
        # One try per call: a retry after a lost answer could send the message twice.
        self.runtime = RuntimeOptions(autoretry=False, max_attempts=1)

    @classmethod
    def from_settings(cls, protocol: str = "HTTPS") -> AliyunSmsProvider:
        settings = get_settings()
        secret = settings.aliyun_sms_access_key_secret
        if not settings.aliyun_sms_access_key_id or secret is None or not settings.aliyun_sms_sign_name:
            raise ValueError(
                "Alibaba Cloud SMS needs ROAMCARD_ALIYUN_SMS_ACCESS_KEY_ID, "
                "ROAMCARD_ALIYUN_SMS_ACCESS_KEY_SECRET and ROAMCARD_ALIYUN_SMS_SIGN_NAME"
            )
        return cls(
            access_key_id=settings.aliyun_sms_access_key_id,
            access_key_secret=secret.get_secret_value(),
            sign_name=settings.aliyun_sms_sign_name,
            templates=dict(settings.aliyun_sms_templates),
            endpoint=settings.aliyun_sms_endpoint,
            region=settings.aliyun_sms_region,
            timeout_seconds=settings.sms_timeout_seconds,
            protocol=protocol,
        )

    @staticmethod
    def _number(phone: str) -> str:
        """Mainland numbers without +86; others in international form (00 + country code)."""
        return phone[3:] if phone.startswith("+86") else "00" + phone.lstrip("+")

    def send(self, message: OutgoingSms) -> str:
        template_code = self.templates.get(message.template)
        if not template_code:
            raise SmsRejected("template_missing", f"no Alibaba Cloud template for {message.template}")
        request = sms_models.SendSmsRequest(
            phone_numbers=self._number(message.phone),
            sign_name=self.sign_name,
            template_code=template_code,
            template_param=json.dumps(message.params, ensure_ascii=False, separators=(",", ":")),
            out_id=message.reference,
        )
        try:
            response = self.client.send_sms_with_options(request, self.runtime)
        except ThrottlingException as exc:
            raise SmsNotAccepted(str(exc.code), "throttled") from None
        except ClientException as exc:
            # 4xx: signature, access key, or a malformed request: not taken, and another provider may.
            raise SmsNotAccepted(str(exc.code), f"http_{exc.status_code}") from None
        except ServerException as exc:
            raise SmsUncertain(f"http_{exc.status_code}", str(exc.code)) from None
        except (DaraException, UnretryableException, OSError) as exc:
            raise SmsUncertain("network", type(exc).__name__) from None
        body = response.body
        code = str(body.code or "")
        if code == "OK" and body.biz_id:
            return str(body.biz_id)
        if code in REJECTED:
            raise SmsRejected(code, str(body.message or ""))
        if code.startswith("isp."):  # their side failed: it may or may not have gone
            raise SmsUncertain(code, str(body.message or ""))
        raise SmsNotAccepted(code or "no_code", str(body.message or ""))

    def query(self, lookup: Lookup) -> Report:
        day = lookup.attempt_started_at.astimezone(BEIJING)
        try:
            found = self._find(lookup, day.strftime("%Y%m%d"))
            next_day = day + timedelta(days=1)
            if found is None and next_day.date() <= clock.now().astimezone(BEIJING).date():
                # A send just before midnight Beijing time may be listed under the next day.
                found = self._find(lookup, next_day.strftime("%Y%m%d"))
        except (DaraException, UnretryableException, OSError, LookupError):
            return Report("pending", lookup.provider_reference)
        if found is None:
            if lookup.unknown and clock.now() - lookup.attempt_started_at >= LISTING_DELAY:
                return Report("not_accepted")
            return Report("pending", lookup.provider_reference)
        detail, biz_id = found
        status = int(detail.send_status or 0)
        if status == DELIVERED:
            return Report("delivered", biz_id)
        if status == FAILED:
            return Report("failed", biz_id, str(detail.err_code or "failed"))
        return Report("accepted", biz_id)

    def _find(self, lookup: Lookup, send_date: str) -> tuple[Any, str | None] | None:
        page = 1
        while True:
            request = sms_models.QuerySendDetailsRequest(
                phone_number=self._number(lookup.phone),
                biz_id=lookup.provider_reference,
                send_date=send_date,
                page_size=50,
                current_page=page,
            )
            body = self.client.query_send_details_with_options(request, self.runtime).body
            if body.code != "OK":
                raise LookupError(str(body.code))
            details = list(body.sms_send_detail_dtos.sms_send_detail_dto if body.sms_send_detail_dtos else [])
            for detail in details:
                if lookup.provider_reference is not None or detail.out_id == lookup.reference:
                    return detail, lookup.provider_reference
            if len(details) < 50 or page * 50 >= int(body.total_count or 0):
                return None
            page += 1
