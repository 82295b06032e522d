"""Every table, one file each, on one metadata (Alembic reads `Base.metadata`)."""

from roamcard.models.allowance import Allowance
from roamcard.models.audit_entry import AuditEntry
from roamcard.models.base import Base
from roamcard.models.card import Card
from roamcard.models.card_network import CardNetwork
from roamcard.models.card_order import CardOrder
from roamcard.models.card_review_flag import CardReviewFlag
from roamcard.models.card_session import CardSession
from roamcard.models.cdr_record import CdrRecord
from roamcard.models.charging_grant import ChargingGrant
from roamcard.models.charging_request import ChargingRequest
from roamcard.models.charging_session import ChargingSession
from roamcard.models.dealer import Dealer
from roamcard.models.dealer_sale import DealerSale
from roamcard.models.dispute import Dispute
from roamcard.models.emergency_contact import EmergencyContact
from roamcard.models.emergency_profile import EmergencyProfile
from roamcard.models.esim_event import EsimEvent
from roamcard.models.esim_profile import EsimProfile
from roamcard.models.idempotency_key import IdempotencyKey
from roamcard.models.inbox_event import InboxEvent
from roamcard.models.ivr_call import IvrCall
from roamcard.models.job import Job
from roamcard.models.ledger_account import LedgerAccount
from roamcard.models.ledger_reservation import LedgerReservation
from roamcard.models.ledger_transfer import LedgerTransfer
from roamcard.models.network_element import NetworkElement
from roamcard.models.notification import Notification
from roamcard.models.partner import Partner
from roamcard.models.partner_call import PartnerCall
from roamcard.models.partner_callback import PartnerCallback
from roamcard.models.partner_callback_attempt import PartnerCallbackAttempt
from roamcard.models.partner_key import PartnerKey
from roamcard.models.partner_topup import PartnerTopup
from roamcard.models.password_reset import PasswordReset
from roamcard.models.payment import Payment
from roamcard.models.phone_change import PhoneChange
from roamcard.models.product import Product
from roamcard.models.promotion_budget import PromotionBudgetHold, PromotionBudgetShard
from roamcard.models.promotion_campaign import PromotionCampaign
from roamcard.models.promotion_code import PromotionCode
from roamcard.models.promotion_slot import PromotionSlot
from roamcard.models.quote import Quote
from roamcard.models.rating_group import RatingGroup
from roamcard.models.rating_zone import RatingZone
from roamcard.models.refund import Refund
from roamcard.models.request_nonce import RequestNonce
from roamcard.models.sandbox_card import SandboxCard
from roamcard.models.sandbox_charge import SandboxCharge
from roamcard.models.sign_in_attempt import SignInAttempt
from roamcard.models.signed_link import SignedLink
from roamcard.models.sos_alert import SosAlert
from roamcard.models.staff_member import StaffMember
from roamcard.models.staff_session import StaffSession
from roamcard.models.state_transition import StateTransition
from roamcard.models.topup_order import TopupOrder
from roamcard.models.voucher import Voucher
from roamcard.models.voucher_attempt import VoucherAttempt
from roamcard.models.voucher_batch import VoucherBatch
from roamcard.models.voucher_operation import VoucherOperation

__all__ = [
    "Allowance",
    "AuditEntry",
    "Base",
    "Card",
    "CardNetwork",
    "CardOrder",
    "CardReviewFlag",
    "CardSession",
    "CdrRecord",
    "ChargingGrant",
    "ChargingRequest",
    "ChargingSession",
    "Dealer",
    "DealerSale",
    "Dispute",
    "EmergencyContact",
    "EmergencyProfile",
    "EsimEvent",
    "EsimProfile",
    "IdempotencyKey",
    "InboxEvent",
    "IvrCall",
    "Job",
    "LedgerAccount",
    "LedgerReservation",
    "LedgerTransfer",
    "NetworkElement",
    "Notification",
    "Partner",
    "PartnerCall",
    "PartnerCallback",
    "PartnerCallbackAttempt",
    "PartnerKey",
    "PartnerTopup",
    "PasswordReset",
    "Payment",
    "PhoneChange",
    "Product",
    "PromotionBudgetHold",
    "PromotionBudgetShard",
    "PromotionCampaign",
    "PromotionCode",
    "PromotionSlot",
    "Quote",
    "RatingGroup",
    "RatingZone",
    "Refund",
    "RequestNonce",
    "SandboxCard",
    "SandboxCharge",
    "SignInAttempt",
    "SignedLink",
    "SosAlert",
    "StaffMember",
    "StaffSession",
    "StateTransition",
    "TopupOrder",
    "Voucher",
    "VoucherAttempt",
    "VoucherBatch",
    "VoucherOperation",
]
