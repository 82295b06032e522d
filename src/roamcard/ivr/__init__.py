"""The customer-service hotline: Twilio-compatible TwiML webhooks on top of the card, top-up and voucher
services."""
