"""Dealers (代理商 / 门店): shops and distributors with a prepaid float, and the POS API their tills use."""
