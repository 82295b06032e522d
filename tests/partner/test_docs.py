"""docs/partners.md stays true: its known answer, its Python signing example (standard library only) and
its curl + openssl recipe sign exactly as our verification expects."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from roamcard.reseller import signing

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "partners.md").read_text()
BODY = b'{"external_id":"x"}'
ARGS = ("POST", "/api/v1/partner/topups", "1764662400", "0123456789abcdef", BODY)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.S)


def test_the_known_answer_is_ours() -> None:
    expected = signing.sign("rcs_example", *ARGS)
    assert expected in GUIDE
    assert signing.canonical(*ARGS).decode() in GUIDE


def test_the_python_example_signs_as_we_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    example = blocks("python")[0]
    code = example[: example.index("def call(")]  # the signing part; `call` would go to the network
    namespace: dict[str, Any] = {}
    exec(code.replace('"pk_…", "rcs_…"', '"pk_docs", "rcs_example"'), namespace)  # noqa: S102
    monkeypatch.setattr(namespace["time"], "time", lambda: 1764662400.5)
    monkeypatch.setattr(namespace["secrets"], "token_urlsafe", lambda _n: "0123456789abcdef")
    headers = namespace["signed_headers"]("POST", "/api/v1/partner/topups", BODY)
    assert headers["Roamcard-Signature"] == signing.sign("rcs_example", *ARGS)
    assert signing.matches("rcs_example", *ARGS, headers["Roamcard-Signature"])


def test_the_callback_verifier_accepts_our_signature() -> None:
    verifier = next(block for block in blocks("python") if "def verify(" in block)
    namespace: dict[str, Any] = {}
    exec(verifier, namespace)  # noqa: S102
    headers = signing.headers("pk_docs", "rcs_example", "POST", "/cb?x=1", BODY, timestamp=1, nonce="n" * 16)
    assert namespace["verify"]("rcs_example", "POST", "/cb?x=1", headers, BODY)
    assert not namespace["verify"]("rcs_example", "POST", "/cb?x=2", headers, BODY)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_openssl_recipe_signs_as_we_verify() -> None:
    recipe = blocks("sh")[0]
    lines = [line for line in recipe.splitlines() if line.startswith(("HASH=", "SIG=", "      |"))]
    script = "\n".join(
        [
            "SECRET=rcs_example TARGET=/api/v1/partner/topups TS=1764662400 NONCE=0123456789abcdef",
            'BODY=\'{"external_id":"x"}\'',
            *lines,
            'printf "v1=%s" "$SIG"',
        ]
    )
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == signing.sign("rcs_example", *ARGS)
