"""Staff accounts and back-office sign-in: email + password (argon2id), then a TOTP code.

A sign-in is a session row whose cookie is random (only its SHA-256 is stored). Until the second factor is
passed the session grants nothing but the code page (or, on first sign-in, TOTP enrolment). A session ends
after `staff_session_idle_seconds` without a request and at `staff_session_max_seconds` in any case.
Wrong passwords lock the e-mail address like card numbers are locked (auth/attempts.py: counted before
argon2 runs, per address whether or not it has an account, so an unknown address gets the same answers and
the same work), with the same per-client limits; wrong codes are limited per account. Every sign-in,
failure, enrolment and sign-out is written to the audit log. Services never commit, except `sign_in`, which
checks the password with no write transaction open and commits its outcome itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.audit.service import Actor
from roamcard.auth import attempts
from roamcard.auth import service as auth_service
from roamcard.card import passwords
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError, TooManyRequests, Unauthorized
from roamcard.kit import clock
from roamcard.kit.ratelimit import FailureLimit
from roamcard.kit.tokens import hash_token
from roamcard.models import StaffMember, StaffSession
from roamcard.staff import repository, totp
from roamcard.staff.roles import Permission, Role, can

MIN_PASSWORD_LENGTH = 12
SIGN_IN_WINDOW = timedelta(minutes=10)
TOTP_MAX_FAILURES = 5
TOTP_FAILURE_WINDOW_SECONDS = 15 * 60


class StaffInvalidCredentials(AppError):
    status_code = 401
    code = "staff_invalid_credentials"
    message = "The email or password is wrong."
    keeps_changes = True


class StaffLocked(TooManyRequests):
    code = "staff_locked"
    message = "Too many wrong passwords. Try again in {minutes} minutes."
    keeps_changes = True


class StaffSignInRequired(Unauthorized):
    code = "staff_sign_in_required"
    message = "Sign in to the back office."


class StaffSessionExpired(Unauthorized):
    code = "staff_session_expired"
    message = "Your back-office session has ended. Sign in again."


class SecondFactorRequired(Unauthorized):
    code = "second_factor_required"
    message = "Enter the code from your authenticator app first."


class StaffForbidden(AppError):
    status_code = 403
    code = "staff_forbidden"
    message = "Your role does not allow this."


class TotpWrong(AppError):
    status_code = 401
    code = "totp_wrong"
    message = "The code is wrong or was already used. Wait for the next code and try again."
    keeps_changes = True


class TotpLocked(TooManyRequests):
    code = "totp_locked"
    message = "Too many wrong codes. Try again in {minutes} minutes."
    keeps_changes = True


class InvalidStaffAccount(ValueError):
    pass


@dataclass(frozen=True)
class StaffContext:
    """The signed-in staff member and their session, for one request."""

    staff: StaffMember
    session: StaffSession
    client_ip: str

    @property
    def actor(self) -> Actor:
        return Actor(
            staff_id=self.staff.id, email=self.staff.email, role=self.staff.role, client_ip=self.client_ip
        )

    def can(self, permission: Permission) -> bool:
        return can(self.staff.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise StaffForbidden()


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or " " in email:
        raise InvalidStaffAccount("Enter a valid email address.")
    return email


def create_staff(session: Session, *, email: str, role: str, password: str) -> StaffMember:
    email = normalise_email(email)
    try:
        role = Role(role).value
    except ValueError:
        raise InvalidStaffAccount(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidStaffAccount(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if repository.get_by_email(session, email) is not None:
        raise InvalidStaffAccount(f"{email} already has an account")
    member = StaffMember(
        email=email,
        role=role,
        password_hash=passwords.hash_password(password),
        created_at=clock.now(),
    )
    session.add(member)
    session.flush()
    return member


def reset_totp(session: Session, member: StaffMember) -> None:
    """Forget the authenticator (a lost phone): the next sign-in enrols a new one."""
    member.totp_secret_encrypted = None
    member.totp_enrolled_at = None
    member.totp_last_step = None
    repository.revoke_sessions(session, member.id, clock.now())
    session.flush()


class LastAdmin(AppError):
    status_code = 409
    code = "staff_last_admin"
    message = "This is the last admin account: give another account the admin role first."


def change_role(session: Session, member: StaffMember, role: str) -> StaffMember:
    """Give an account another role; it applies from the account's next request (roles are read per
    request). The last enabled admin keeps the role, so the back office never loses its admins."""
    try:
        new_role = Role(role).value
    except ValueError:
        raise InvalidStaffAccount(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if member.role == Role.ADMIN and new_role != Role.ADMIN and repository.count_admins(session) <= 1:
        raise LastAdmin()
    member.role = new_role
    session.flush()
    return member


def new_initial_password() -> str:
    """A first password for an account made in the back office, shown once to the admin making it."""
    return secrets.token_urlsafe(15)  # 20 characters


# -- signing in ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedStaffSession:
    token: str
    session: StaffSession
    staff: StaffMember


def _totp_failures() -> FailureLimit:
    return FailureLimit(
        "staff-totp", TOTP_MAX_FAILURES, TOTP_FAILURE_WINDOW_SECONDS, get_settings().rate_limit_storage_url
    )


def sign_in(database: Database, *, email: str, password: str, client_ip: str) -> IssuedStaffSession:
    """First factor. Returns a session that still needs the second factor. Commits: the attempt is counted
    in one short transaction, argon2 runs with none open, the outcome is recorded in another."""
    settings = get_settings()
    address = email.strip().lower()[:254]
    limits = auth_service.client_limits("staff-login", client_ip, address)
    retry_after = auth_service.client_retry_after(limits)
    if retry_after is not None:
        raise StaffLocked(retry_after)
    with database.transaction() as session:
        spent = attempts.reserve(
            session,
            attempts.STAFF,
            address,
            max_failures=settings.staff_login_max_failures,
            lockout_seconds=settings.staff_login_lockout_seconds,
        )
        member = repository.get_by_email(session, address)
    if isinstance(spent, attempts.Locked):
        raise StaffLocked(spent.retry_after_seconds)
    if member is None or member.disabled_at is not None:
        passwords.burn_verification_time(password)
        member = None
        right = False
    else:
        right = passwords.verify_password(member.password_hash, password)

    if not right:
        auth_service.record_client_failure(limits)
        with database.transaction() as session:
            if member is None:
                failure = Actor(staff_id=None, email=address, role="-", client_ip=client_ip)
                audit.record(session, failure, "staff.sign_in_failed", target_type="staff", target_id=address)
            else:
                failure = Actor(staff_id=member.id, email=member.email, role=member.role, client_ip=client_ip)
                audit.record(
                    session,
                    failure,
                    "staff.sign_in_failed",
                    target_type="staff",
                    target_id=str(member.id),
                    after={"locked": spent.last},
                )
        if spent.last:
            raise StaffLocked(settings.staff_login_lockout_seconds)
        raise StaffInvalidCredentials()

    assert member is not None
    with database.transaction() as session:
        attempts.clear(session, attempts.STAFF, address)
        now = clock.now()
        token = "rcs_" + secrets.token_urlsafe(32)
        row = StaffSession(
            token_hash=hash_token(token),
            staff_id=member.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SIGN_IN_WINDOW,
        )
        session.add(row)
        session.flush()
    return IssuedStaffSession(token=token, session=row, staff=member)


def load(session: Session, token: str | None, client_ip: str, *, verified: bool = True) -> StaffContext:
    """The staff member behind a session cookie. Touches `last_seen_at` (the idle timeout counts from the
    last request). `verified=False` accepts a session still waiting for its second factor."""
    if not token:
        raise StaffSignInRequired()
    row = repository.get_session(session, hash_token(token))
    now = clock.now()
    if row is None or row.revoked_at is not None:
        raise StaffSignInRequired()
    idle = timedelta(seconds=get_settings().staff_session_idle_seconds)
    if row.expires_at <= now or row.last_seen_at + idle <= now:
        row.revoked_at = now
        raise StaffSessionExpired()
    member = session.get(StaffMember, row.staff_id)
    if member is None or member.disabled_at is not None:
        raise StaffSignInRequired()
    if verified and row.verified_at is None:
        raise SecondFactorRequired()
    row.last_seen_at = now
    session.flush()
    return StaffContext(staff=member, session=row, client_ip=client_ip)


def _pass_second_factor(session: Session, context: StaffContext, action: str) -> None:
    now = clock.now()
    context.session.verified_at = now
    context.session.expires_at = now + timedelta(seconds=get_settings().staff_session_max_seconds)
    context.session.pending_totp_secret = None
    context.staff.last_login_at = now
    session.flush()
    audit.record(session, context.actor, action, target_type="staff", target_id=str(context.staff.id))


def _check_code(session: Session, context: StaffContext, secret: str, code: str) -> None:
    failures = _totp_failures()
    key = str(context.staff.id)
    retry_after = failures.retry_after(key)
    if retry_after is not None:
        raise TotpLocked(retry_after)
    step = totp.matching_step(secret, code)
    if step is None or not repository.claim_totp_step(session, context.staff.id, step):
        failures.record_failure(key)
        audit.record(session, context.actor, "staff.totp_failed", target_type="staff", target_id=key)
        raise TotpWrong()
    session.refresh(context.staff)


def verify_totp(session: Session, context: StaffContext, code: str) -> None:
    """Second factor for an enrolled account."""
    if context.staff.totp_secret_encrypted is None:
        raise SecondFactorRequired()
    _check_code(session, context, totp.decrypt(context.staff.totp_secret_encrypted), code)
    _pass_second_factor(session, context, "staff.sign_in")


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr: str


def start_enrolment(session: Session, context: StaffContext) -> Enrolment:
    """Offer a secret (kept, encrypted, on the session until the first code proves the app has it)."""
    if context.session.pending_totp_secret:
        secret = totp.decrypt(context.session.pending_totp_secret)
    else:
        secret = totp.new_secret()
        context.session.pending_totp_secret = totp.encrypt(secret)
        session.flush()
    uri = totp.provisioning_uri(secret, context.staff.email)
    return Enrolment(secret=secret, uri=uri, qr=totp.qr_svg_data_uri(uri))


def confirm_enrolment(session: Session, context: StaffContext, code: str) -> None:
    if context.staff.totp_enrolled_at is not None or not context.session.pending_totp_secret:
        raise SecondFactorRequired()
    secret = totp.decrypt(context.session.pending_totp_secret)
    _check_code(session, context, secret, code)
    context.staff.totp_secret_encrypted = totp.encrypt(secret)
    context.staff.totp_enrolled_at = clock.now()
    session.flush()
    audit.record(
        session, context.actor, "staff.totp_enrolled", target_type="staff", target_id=str(context.staff.id)
    )
    _pass_second_factor(session, context, "staff.sign_in")


def sign_out(session: Session, context: StaffContext) -> None:
    context.session.revoked_at = clock.now()
    session.flush()
    audit.record(
        session, context.actor, "staff.sign_out", target_type="staff", target_id=str(context.staff.id)
    )
