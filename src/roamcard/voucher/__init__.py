"""Recharge cards (充值卡): PIN vouchers sold in shops, redeemed on a card by any channel."""
