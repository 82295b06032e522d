"""One settings object for the whole process, read from ROAMCARD_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRETS = frozenset(
    {
        "dev-only-secret-change-me",
        "whsec_dev_sandbox_change_me",
        "dev-only-twilio-token",
        "dev-only-voucher-pepper",
    }
)
DEVELOPMENT_TWILIO_TOKEN = "dev-only-twilio-token"  # noqa: S105 (a development default, refused in production)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROAMCARD_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./roamcard.db"
    secret_key: SecretStr = SecretStr("dev-only-secret-change-me")
    # During a rotation: the secret before the current one, still accepted for what it made (keys.py).
    secret_key_previous: SecretStr | None = None
    sandbox_webhook_secret: SecretStr = SecretStr("whsec_dev_sandbox_change_me")
    public_base_url: str = "http://127.0.0.1:8000"

    # Fail closed: production unless told otherwise (`make run` says development, the tests say test).
    environment: Literal["development", "test", "production"] = "production"
    # Demo mode (SMS read back in the app, `roamcard demo`) and the sandbox gateway (free test payments)
    # are on by default except in production. Production never runs demo mode (the server refuses to
    # start with ROAMCARD_DEMO_MODE=true); the sandbox only with ROAMCARD_SANDBOX_ENABLED=true (staging,
    # benchmarks), with a warning at start-up.
    demo_mode: bool | None = None
    sandbox_enabled: bool | None = None
    log_level: str = "INFO"
    log_json: bool = False

    # Rate-limit counters: "memory://" for one process, "redis://host:6379/0" across processes.
    rate_limit_storage_url: str = "memory://"

    # Service-password hashing (argon2id). Lower only in tests.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 1

    session_ttl_seconds: int = 12 * 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 15 * 60
    # Sign-in limits (auth; docs/security.md): wrong passwords per (client IP, card number) or (client IP,
    # staff e-mail), and a ceiling of wrong passwords per client IP whatever the name, both per window.
    login_ip_max_failures: int = 30
    login_ip_limit: int = 300
    login_ip_window_seconds: int = 15 * 60

    payment_window_seconds: int = 30 * 60
    # New cards bought online (POST /api/v1/card-orders): created orders per client IP per window.
    card_order_ip_limit: int = 10
    card_order_ip_window_seconds: int = 60 * 60
    webhook_tolerance_seconds: int = 300

    # Every card's balance is kept in this currency; custom amounts are named in it.
    wallet_currency: str = "USD"

    job_max_attempts: int = 8
    job_lease_seconds: int = 60
    job_poll_interval_seconds: float = 0.2
    job_batch_size: int = 32
    # External jobs (an SMS provider's HTTP call) of one batch run side by side, each off the database.
    job_external_concurrency: int = 8
    # Jobs and idempotency (issue 9 item 16): stored Idempotency-Key answers are purged once this old.
    idempotency_key_retention_hours: int = 24
    # Promotions: a price quote (15 minutes) is deleted once it has been expired this long.
    quote_retention_hours: int = 24

    default_timezone: str = "Asia/Shanghai"

    # Recharge cards: PINs are stored only as HMAC-SHA256 under this pepper (never change it once vouchers
    # exist: every PIN would stop matching). Brute force: wrong PINs per card and per client per hour,
    # and wrong PINs per card per day that flag the card for review.
    voucher_pepper: SecretStr = SecretStr("dev-only-voucher-pepper")
    voucher_pin_max_failures_per_hour: int = 5
    voucher_pin_review_failures_per_day: int = 20
    promo_code_max_failures_per_hour: int = 5
    # Dealer POS requests: signed timestamps older or newer than this are refused; nonces are kept as long.
    pos_signature_window_seconds: int = 300
    # Partner callbacks: retried with exponential backoff for this long after the first attempt, then dead;
    # each attempt waits this long for an answer (no answer is not a failure: it is retried).
    partner_callback_retry_hours: int = 24
    partner_callback_timeout_seconds: float = 10.0

    # Phone channel (IVR hotline and agent console). The IVR answers only requests signed with this token
    # (Twilio's X-Twilio-Signature). Unset in production: the hotline is off; set, it must be the real
    # token (the server refuses to start on a development value). Outside production: a development token.
    twilio_auth_token: SecretStr | None = None
    # Where "0: speak to an agent" transfers the call (E.164); unset: the IVR says no agent is available.
    agent_phone: str | None = None
    # The portal's emergency page lists this hotline first, for Chinese citizens abroad (the Ministry of
    # Foreign Affairs' consular protection hotline by default). An empty value hides the entry.
    consular_hotline: str = "+86-10-12308"
    ivr_voice_zh: str = "Polly.Zhiyu"
    ivr_voice_en: str = "Polly.Joanna"
    # Seconds the caller has to start typing; then the IVR treats the line as silent.
    ivr_gather_timeout_seconds: int = 8
    # The payment method of the top-ups whose links the IVR and agents send by SMS.
    phone_payment_method: str = "sandbox"
    # Back-office sessions end after this much inactivity, and in any case after the maximum.
    staff_session_idle_seconds: int = 15 * 60
    staff_session_max_seconds: int = 8 * 3600
    staff_login_max_failures: int = 5
    staff_login_lockout_seconds: int = 15 * 60

    # -- Payment gateways (docs/operations.md, "Payment gateways"). A gateway whose settings are not all
    # set is simply not offered. Key files are PEM; secrets are never printed.
    alipay_app_id: str | None = None
    alipay_seller_id: str | None = None
    alipay_private_key_file: Path | None = None
    alipay_public_key_file: Path | None = None  # Alipay's public key, not ours
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    wechatpay_mchid: str | None = None
    wechatpay_appid: str | None = None
    wechatpay_apiv3_key: SecretStr | None = None
    wechatpay_private_key_file: Path | None = None
    wechatpay_cert_serial_no: str | None = None
    wechatpay_public_key_file: Path | None = None  # WeChat Pay's platform public key (public-key mode)
    wechatpay_public_key_id: str | None = None
    wechatpay_gateway_url: str = "https://api.mch.weixin.qq.com"
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_max_network_retries: int = 2
    # One call to a gateway; past it the outcome is unknown and a sweeper asks again.
    gateway_timeout_seconds: float = 15.0
    # -- Payment loose ends (issue 9: unknown, lost notifications). A payment still unknown this long
    # after it was opened is settled by a final query or expired and closed at the gateway; a verified
    # notification still unhandled this long after it arrived is handled again.
    payment_final_sweep_after_seconds: int = 24 * 3600
    inbox_redrive_after_seconds: int = 15 * 60

    # -- eSIM (issue 13; docs/operations.md "eSIM profiles"). Fewer available profiles than this raise the
    # low-stock alert (log, metric, back-office banner). The SM-DP+ notification token is required in
    # production: without it every notification is refused.
    esim_low_stock: int = 100

    # -- Charging for the network (issue 15; docs/api.md "Charging API for the network"). The largest grant
    # per request and rating group kind, and how long a grant (and its ledger reservation) is valid.
    charging_quota_data_bytes: int = 50 * 1024 * 1024
    charging_quota_voice_seconds: int = 300
    charging_quota_sms: int = 1
    charging_validity_seconds: int = 600
    # -- Usage alerts (issue 15; docs/operations.md "Usage alerts"). An SMS (and a dashboard banner) when the
    # card's balance falls below this many minor units of its currency; a currency not named has no
    # low-balance alert. JSON in the environment: ROAMCARD_ALERT_LOW_BALANCE='{"USD": 200, "CNY": 1000}'.
    alert_low_balance: dict[str, int] = {"USD": 200, "CNY": 1000}
    smdp_notify_token: SecretStr | None = None

    # -- The card's own lifecycle (issue 15; docs/operations.md "Card validity"). A new card is valid for
    # card_initial_validity_days; each recharge extends it from the later of now and its validity date by
    # the product's validity_days_per_recharge (this default when the catalogue names none). SMS reminders
    # go out the given days before it lapses; after it lapses the card is `expired` (emergency only, sign-in
    # and recharge still work) for grace_days, then `closed` (balance to breakage) and its number is held
    # for msisdn_quarantine_days before another card may get it.
    card_initial_validity_days: int = 180
    validity_days_per_recharge: int = 180
    validity_reminder_days: tuple[int, ...] = (7, 1)
    grace_days: int = 30
    msisdn_quarantine_days: int = 90

    # -- SMS (issue 10; docs/operations.md "SMS providers"). Routes by destination prefix, in order of
    # preference: "+86=aliyun,twilio; *=twilio,smpp". Providers: aliyun, twilio, smpp, console.
    sms_routes: str = "*=console"
    # Production refuses a route to console (and an unset brand) unless this says it is a staging copy.
    sms_allow_console: bool = False
    # The operator's brand at the start of every text (【品牌】 as Chinese carriers require).
    brand_name_zh: str | None = None
    brand_name_en: str | None = None
    sms_codes_per_number_per_hour: int = 5
    # A sent message without a receipt after this long is expired; an unknown one still unsettled after
    # sms_unknown_give_up_seconds is expired too (never sent again: it may have arrived).
    sms_receipt_timeout_seconds: int = 48 * 3600
    sms_unknown_give_up_seconds: int = 24 * 3600
    # How soon a sent or unknown message is asked about again (Alibaba Cloud reports, lookups).
    sms_check_interval_seconds: int = 60
    sms_timeout_seconds: float = 10.0
    aliyun_sms_access_key_id: str | None = None
    aliyun_sms_access_key_secret: SecretStr | None = None
    aliyun_sms_sign_name: str | None = None
    aliyun_sms_endpoint: str = "dysmsapi.aliyuncs.com"
    aliyun_sms_region: str = "cn-hangzhou"
    # JSON: message type → approved template code, e.g. {"topup_fulfilled": "SMS_460000001", ...}
    aliyun_sms_templates: dict[str, str] = {}
    twilio_account_sid: str | None = None  # the auth token is ROAMCARD_TWILIO_AUTH_TOKEN (above)
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = None
    smpp_host: str | None = None
    smpp_port: int = 2775
    smpp_system_id: str | None = None
    smpp_password: SecretStr | None = None
    smpp_system_type: str = ""
    smpp_source_addr: str | None = None
    smpp_source_addr_ton: int = 5  # alphanumeric
    smpp_source_addr_npi: int = 0
    smpp_tls: bool = False
    smpp_window: int = 10  # submit_sm sent and not yet answered, at most
    smpp_enquire_link_seconds: int = 30
    # An SMPP send whose submit_sm_resp was lost, with no receipt after this long, was not taken.
    smpp_receipt_window_seconds: int = 3600

    @field_validator("public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_safe_defaults(self) -> Settings:
        if self.demo_mode is None:
            self.demo_mode = self.environment != "production"
        if self.sandbox_enabled is None:
            self.sandbox_enabled = self.environment != "production"
        if self.twilio_auth_token is None and self.environment != "production":
            self.twilio_auth_token = SecretStr(DEVELOPMENT_TWILIO_TOKEN)
        return self

    @property
    def demo_enabled(self) -> bool:
        """Demo mode as the code must read it: never in production, whatever ROAMCARD_DEMO_MODE says."""
        return bool(self.demo_mode) and self.environment != "production"

    def startup_problems(self) -> list[SettingProblem]:
        """Why these settings are not safe to serve production with (empty outside production). Each
        problem names the setting's environment variable, never its value (startup.py logs them)."""
        if self.environment != "production":
            return []
        problems = []
        for name, field in type(self).model_fields.items():
            if field.annotation not in (SecretStr, SecretStr | None):
                continue
            value: SecretStr | None = getattr(self, name)
            if value is None:
                if name in REQUIRED_SECRETS:
                    problems.append(SettingProblem(name, "is not set"))
                continue
            text = value.get_secret_value()
            minimum = 1 if name in PROVIDER_SECRETS else MIN_SECRET_LENGTH
            if text in DEVELOPMENT_SECRETS or text.startswith("dev-only"):
                problems.append(SettingProblem(name, "is unset or a development value"))
            elif len(text) < minimum:
                problems.append(SettingProblem(name, f"must be a random value of {minimum}+ characters"))
        if self.demo_mode:
            problems.append(SettingProblem("demo_mode", "cannot be on in production"))
        return problems

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# -- Start-up checks (issue 9, fail closed) ----------------------------------------------------------
# Secrets the server cannot run without; every other SecretStr setting is checked when it is set.
REQUIRED_SECRETS = frozenset({"secret_key", "sandbox_webhook_secret", "voucher_pepper"})
# Issued by a gateway in its own format: only checked for being set and not a development value.
PROVIDER_SECRETS = frozenset(
    {
        "wechatpay_apiv3_key",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "aliyun_sms_access_key_secret",  # 30 characters
        "smpp_password",  # SMPP 3.4 allows at most 8
    }
)
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class SettingProblem:
    setting: str  # the field name; `env_name` is what the operator sets
    problem: str

    @property
    def env_name(self) -> str:
        return f"ROAMCARD_{self.setting.upper()}"

    def __str__(self) -> str:
        return f"{self.env_name} {self.problem}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


__all__ = ["SettingProblem", "Settings", "get_settings"]
