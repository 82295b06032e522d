"""Chargebacks: disputes a payer's bank opened against a payment, their money and the card's top-up hold."""
