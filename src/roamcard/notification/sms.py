"""SMS segment counting: GSM-7 160/153 characters, UCS-2 (any Chinese) 70/67 (docs/architecture.md)."""

from __future__ import annotations

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENDED for char in text)


def segments(text: str) -> int:
    if is_gsm7(text):
        length = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
        single, multi = 160, 153
    else:
        length = sum(2 if ord(char) > 0xFFFF else 1 for char in text)  # UTF-16 code units
        single, multi = 70, 67
    if length <= single:
        return 1
    return -(-length // multi)
