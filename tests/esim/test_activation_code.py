import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamcard.esim.activation_code import ActivationCode, InvalidActivationCode

# SGP.22 v2.2.2 §4.1's own examples.
SGP22_EXAMPLES = [
    "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815",
    "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1",
    "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1",
    "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746",
    "1$SMDP.GSMA.COM$$1.3.6.1.4.1.31746",
]


class TestParsingSgp22Examples:
    @pytest.mark.parametrize("code", SGP22_EXAMPLES)
    def test_each_example_reads_back_exactly_as_written(self, code):
        assert ActivationCode.parse(code).to_string() == code

    @pytest.mark.parametrize("code", SGP22_EXAMPLES)
    def test_the_qr_text_is_the_code_behind_the_lpa_scheme(self, code):
        assert ActivationCode.parse(code).qr_text() == "LPA:" + code

    def test_the_fields_of_the_full_example(self):
        code = ActivationCode.parse("LPA:1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1")
        assert code.smdp_address == "SMDP.GSMA.COM"
        assert code.matching_id == "04386-AGYFT-A74Y8-3F815"
        assert code.oid == "1.3.6.1.4.1.31746"
        assert code.confirmation_code_required is True

    def test_a_code_without_oid_or_flag_needs_no_confirmation_code(self):
        code = ActivationCode.parse("1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815")
        assert code.oid is None
        assert code.confirmation_code_required is False

    def test_an_empty_oid_before_the_flag_is_no_oid_and_is_kept_on_output(self):
        code = ActivationCode.parse("1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1")
        assert code.oid is None
        assert code.confirmation_code_required is True
        assert code.to_string().endswith("$$1")

    def test_the_prefix_is_optional_and_not_part_of_to_string(self):
        with_prefix = ActivationCode.parse("LPA:1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815")
        assert with_prefix == ActivationCode.parse("1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815")
        assert with_prefix.to_string() == "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815"


class TestRejections:
    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("", "format"),
            ("LPA:", "format"),
            ("2$SMDP.GSMA.COM$04386", "format"),
            ("$SMDP.GSMA.COM$04386", "format"),
            ("1$SMDP.GSMA.COM", "matching ID"),
            ("1$$04386-AGYFT", "no SM-DP+ address"),
            ("1$https://smdp.gsma.com$04386", "domain name"),
            ("1$smdp.gsma.com:443$04386", "domain name"),
            ("1$smdp.gsma.com/path$04386", "domain name"),
            ("1$localhost$04386", "domain name"),
            ("1$-smdp.gsma.com$04386", "domain name"),
            ("1$smdp.gsma.com.$04386", "domain name"),
            ("1$10.0.0.1$04386", "domain name"),
            ("1$SMDP.GSMA.COM$04386-agyft", "matching ID"),
            ("1$SMDP.GSMA.COM$04386_AGYFT", "matching ID"),
            ("1$SMDP.GSMA.COM$04386 AGYFT", "matching ID"),
            ("1$SMDP.GSMA.COM$04386$", "empty SM-DP+ OID"),
            ("1$SMDP.GSMA.COM$04386$1.3.6$0", "flag"),
            ("1$SMDP.GSMA.COM$04386$1.3.6$2", "flag"),
            ("1$SMDP.GSMA.COM$04386$1.3.6$", "flag"),
            ("1$SMDP.GSMA.COM$04386$$", "flag"),
            ("1$SMDP.GSMA.COM$04386$OID$1", "OID"),
            ("1$SMDP.GSMA.COM$04386$1..3$1", "OID"),
            ("1$SMDP.GSMA.COM$04386$1.3.6$1$X", "five"),
            (" 1$SMDP.GSMA.COM$04386", "spaces"),
            ("1$SMDP.GSMA.COM$04386\n", "spaces"),
        ],
    )
    def test_an_invalid_code_is_refused_with_a_reason(self, text, reason):
        with pytest.raises(InvalidActivationCode, match=re.escape(reason)):
            ActivationCode.parse(text)

    def test_the_error_is_a_value_error(self):
        with pytest.raises(ValueError, match="format"):
            ActivationCode.parse("nonsense")

    def test_a_code_cannot_be_built_with_a_bad_field_either(self):
        with pytest.raises(InvalidActivationCode):
            ActivationCode(smdp_address="smdp.example.com", matching_id="lower")


class TestSecrecy:
    def test_repr_and_str_do_not_show_the_matching_id(self):
        code = ActivationCode.parse("1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815")
        assert "04386" not in repr(code)
        assert "04386" not in str(code)


_label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
_addresses = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_label, min_size=1, max_size=3),
    st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True),
)
_matching_ids = st.from_regex(r"[0-9A-Z-]{0,40}", fullmatch=True)
_oids = st.from_regex(r"[0-9]{1,5}(\.[0-9]{1,5}){1,8}", fullmatch=True)


@st.composite
def _codes(draw):
    parts = ["1", draw(_addresses), draw(_matching_ids)]
    tail = draw(st.sampled_from(["none", "oid", "oid+flag", "flag"]))
    if tail == "oid":
        parts.append(draw(_oids))
    elif tail == "oid+flag":
        parts += [draw(_oids), "1"]
    elif tail == "flag":
        parts += ["", "1"]
    return "$".join(parts)


class TestRoundTrips:
    @given(_codes())
    def test_every_valid_code_reads_back_exactly(self, text):
        code = ActivationCode.parse(text)
        assert code.to_string() == text
        assert ActivationCode.parse(code.qr_text()) == code

    @given(
        _addresses,
        _matching_ids,
        st.one_of(st.none(), _oids),
        st.booleans(),
    )
    def test_every_built_code_parses_back_to_itself(self, address, matching_id, oid, flag):
        code = ActivationCode(
            smdp_address=address, matching_id=matching_id, oid=oid, confirmation_code_required=flag
        )
        assert ActivationCode.parse(code.to_string()) == code
