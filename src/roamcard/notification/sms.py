"""SMS encoding and segments: GSM 03.38 160 characters alone, 153 per part when split; UCS-2 (any Chinese)
70 alone, 67 per part. Parts never split a character: not a GSM escape pair, not a UTF-16 surrogate pair.
Long texts carry a concatenation UDH (05 00 03 ref total index) in each part, as SMSCs and phones expect."""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")
GSM7_ALL = frozenset(GSM7_BASIC | GSM7_EXTENDED)
# The GSM 03.38 default alphabet in table order (unpacked: one septet per byte).
_GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = {
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

DATA_CODING_GSM = 0  # SMSC default alphabet
DATA_CODING_UCS2 = 8
ESM_CLASS_UDHI = 0x40


def is_gsm7(text: str) -> bool:
    return GSM7_ALL.issuperset(text)


def _units(text: str) -> tuple[int, list[bytes], int, int]:
    """(data_coding, one encoded unit per character, bytes alone, bytes per part)."""
    if is_gsm7(text):
        units = [
            bytes([0x1B, _GSM7_EXTENSION[char]])
            if char in _GSM7_EXTENSION
            else bytes([_GSM7_TABLE.index(char)])
            for char in text
        ]
        return DATA_CODING_GSM, units, 160, 153
    return DATA_CODING_UCS2, [char.encode("utf-16-be") for char in text], 140, 134


@dataclass(frozen=True)
class Encoded:
    data_coding: int
    esm_class: int
    parts: list[bytes]  # each a short_message, UDH included when split


def encode(text: str, reference: int = 0) -> Encoded:
    """`reference` (0-255) ties the parts of one message together on the phone."""
    data_coding, units, alone, per_part = _units(text)
    whole = b"".join(units)
    if len(whole) <= alone:
        return Encoded(data_coding, 0, [whole])
    chunks: list[bytes] = []
    current = b""
    for unit in units:
        if len(current) + len(unit) > per_part:
            chunks.append(current)
            current = b""
        current += unit
    chunks.append(current)
    if len(chunks) > 255:
        raise ValueError("text too long for one concatenated SMS")
    header = bytes([0x05, 0x00, 0x03, reference & 0xFF, len(chunks)])
    return Encoded(
        data_coding, ESM_CLASS_UDHI, [header + bytes([i]) + chunk for i, chunk in enumerate(chunks, 1)]
    )


def segments(text: str) -> int:
    # Most texts fit in one part: count their bytes instead of encoding them character by character.
    if is_gsm7(text):
        size, alone = len(text) + sum(char in _GSM7_EXTENSION for char in text), 160
    else:
        size, alone = len(text.encode("utf-16-be")), 140
    return 1 if size <= alone else len(encode(text).parts)
