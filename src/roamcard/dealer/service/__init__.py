"""Dealer use cases: manage (create, credit the float, suspend), auth (POS signatures), sales (top-ups and
recharge cards sold at the till), statement."""
