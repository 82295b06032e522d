"""Activation codes exactly as GSMA SGP.22 §4.1 writes them.

    AC = "1" "$" SM-DP+ address "$" AC_Token [ "$" SM-DP+ OID [ "$" Confirmation Code Required Flag ] ]

* the format version is `1`; the SM-DP+ address is a plain FQDN and is required;
* the AC_Token (the matching ID) is `[0-9A-Z-]`; SGP.22 allows it to be empty (`1$SMDP.GSMA.COM$$1.3.6…`),
  the inventory import does not;
* the OID is dotted decimal; it may be empty only when a flag follows (`…$$1`), and it is kept empty so
  that `parse(s).to_string() == s`;
* the flag, when present, is `1`; a code without it does not need a confirmation code;
* the QR code holds the code behind the `LPA:` scheme (`.qr_text()`).

The confirmation code itself is never part of an activation code. Activation codes are shown only to the
card holder and to staff and never logged: `repr()` does not show the matching ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = "LPA:"
FORMAT = "1"
DELIMITER = "$"

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MATCHING_ID = re.compile(r"^[0-9A-Z-]*$")
_OID = re.compile(r"^[0-9]+(?:\.[0-9]+)+$")


class InvalidActivationCode(ValueError):
    """The text is not an SGP.22 activation code; the message says why in words a person can read."""


def is_fqdn(text: str) -> bool:
    """A plain fully qualified domain name: two or more labels, no scheme, port, path or trailing dot."""
    if not text or len(text) > 253:
        return False
    labels = text.split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


def is_matching_id(text: str) -> bool:
    return _MATCHING_ID.match(text) is not None


@dataclass(frozen=True)
class ActivationCode:
    smdp_address: str
    matching_id: str = field(repr=False)
    oid: str | None = None
    confirmation_code_required: bool = False

    def __post_init__(self) -> None:
        _check_address(self.smdp_address)
        _check_matching_id(self.matching_id)
        if self.oid is not None and self.oid != "":
            _check_oid(self.oid)
        if self.oid == "":
            # An empty OID before the flag (`…$$1`) means "no OID"; to_string writes it back the same way.
            object.__setattr__(self, "oid", None)

    @classmethod
    def parse(cls, text: str) -> ActivationCode:
        """Accepts the code with or without the `LPA:` prefix; raises InvalidActivationCode otherwise."""
        if not isinstance(text, str):
            raise InvalidActivationCode("an activation code is text")
        body = text[len(PREFIX) :] if text[: len(PREFIX)].upper() == PREFIX else text
        if body != body.strip():
            raise InvalidActivationCode("the activation code has spaces around it")
        parts = body.split(DELIMITER)
        if parts[0] != FORMAT:
            raise InvalidActivationCode("the activation code's format is not 1 (it must start with '1$')")
        if len(parts) < 3:
            raise InvalidActivationCode("the activation code needs an SM-DP+ address and a matching ID")
        if len(parts) > 5:
            raise InvalidActivationCode("the activation code has more than five '$'-separated parts")
        address, matching_id = parts[1], parts[2]
        oid_text = parts[3] if len(parts) > 3 else None
        flag = parts[4] if len(parts) > 4 else None
        if oid_text == "" and flag is None:
            raise InvalidActivationCode("the activation code ends with an empty SM-DP+ OID")
        if flag is not None and flag != "1":
            raise InvalidActivationCode("the confirmation code required flag can only be 1")
        return cls(
            smdp_address=address,
            matching_id=matching_id,
            oid=oid_text,
            confirmation_code_required=flag == "1",
        )

    def to_string(self) -> str:
        """The code without the `LPA:` prefix, as an SM-DP+ vendor writes it and a user types it."""
        parts = [FORMAT, self.smdp_address, self.matching_id]
        if self.confirmation_code_required:
            parts += [self.oid or "", "1"]
        elif self.oid is not None:
            parts.append(self.oid)
        return DELIMITER.join(parts)

    def qr_text(self) -> str:
        """What the QR code holds: the code behind the `LPA:` scheme."""
        return PREFIX + self.to_string()

    def __str__(self) -> str:  # never log one by accident through an f-string
        return f"ActivationCode(smdp_address={self.smdp_address!r})"


def _check_address(address: str) -> None:
    if not address:
        raise InvalidActivationCode("the activation code has no SM-DP+ address")
    if not is_fqdn(address):
        raise InvalidActivationCode("the SM-DP+ address is not a plain domain name (no scheme, port or path)")


def _check_matching_id(matching_id: str) -> None:
    if not is_matching_id(matching_id):
        raise InvalidActivationCode(
            "the matching ID may only contain digits, capital letters A-Z and hyphens"
        )


def _check_oid(oid: str) -> None:
    if not _OID.match(oid):
        raise InvalidActivationCode("the SM-DP+ OID is not a dotted number such as 1.3.6.1.4.1.31746")
