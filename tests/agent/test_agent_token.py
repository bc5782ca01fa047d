"""spec/token.md: strict parsing, every reason code, exact boundaries."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from agent_kit import NOW, PROGRAM, Signer, b64, ean13
from click.testing import CliRunner

from agent import TokenError
from agent._token import KeySet, message_for, offline_redeemable, verify
from fastcore import mask_card
from agent._token import REASONS
from agent.cli import token as token_group


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def keys(signer: Signer) -> KeySet:
    return KeySet.from_jwks(signer.jwks())


def reason(code: str, keys: KeySet, **kw: object) -> str:
    kw.setdefault("now", NOW)
    kw.setdefault("program", PROGRAM)
    with pytest.raises(TokenError) as info:
        verify(code, keys, **kw)  # type: ignore[arg-type]
    return info.value.reason


def test_a_good_token_yields_its_claims(signer: Signer, keys: KeySet) -> None:
    tok = verify(signer.token(), keys, now=NOW, program=PROGRAM)
    assert tok.claims["acc"] == "A-77" and tok.jti == "jti-1" and tok.kid == "k1"


def test_a_card_number_with_a_good_check_digit_is_a_card(keys: KeySet) -> None:
    card = ean13("290000012345")
    assert verify(card, keys, now=NOW).to_json() == {"card": card}


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_one_trailing_line_ending_is_stripped(signer: Signer, keys: KeySet, ending: str) -> None:
    assert verify(signer.token() + ending, keys, now=NOW).jti == "jti-1"
    assert verify(ean13("290000012345") + ending, keys, now=NOW).card


@pytest.mark.parametrize("code", [" x", "abc def", "{tok}\n\n", "{tok} ", "\t{tok}", "{tok}\r\n\r\n"])
def test_any_other_whitespace_is_malformed(signer: Signer, keys: KeySet, code: str) -> None:
    assert reason(code.format(tok=signer.token()), keys) == "malformed"


def test_a_wrong_check_digit_is_bad_check_digit(keys: KeySet) -> None:
    good = ean13("290000012345")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert reason(bad, keys) == "bad_check_digit"


@pytest.mark.parametrize("code", ["123", "12345678901234", "", "0" * 12])
def test_digits_that_are_not_13_long_are_malformed(keys: KeySet, code: str) -> None:
    assert reason(code, keys) == "malformed"


def test_structure_and_base64_violations_are_malformed(signer: Signer, keys: KeySet) -> None:
    tok = signer.token()
    h, p, s = tok.split(".")
    for code in [f"{h}.{p}", f"{h}.{p}.{s}.x", f".{p}.{s}", f"{h}..{s}", f"{h}=.{p}.{s}",
                 f"{h}.{p}.{s}=", f"{h}.{p}+.{s}", f"{h}.{p}/.{s}", f"{h}.{p}.{s}!", "a.b.c"]:
        assert reason(code, keys) == "malformed", code


def test_non_canonical_base64_tail_bits_are_malformed(signer: Signer, keys: KeySet) -> None:
    h, p, s = signer.token().split(".")
    # "QQ" decodes to b"A"; "QR" has non-zero unused bits and is not canonical.
    assert reason(f"{h}.{p}.QR", keys) == "malformed"


@pytest.mark.parametrize("header", [
    {"alg": "none", "kid": "k1", "typ": "kop+jwt"},
    {"alg": "HS256", "kid": "k1", "typ": "kop+jwt"},
    {"alg": "ES256", "kid": "k1", "typ": "kop+jwt"},
    {"alg": "EdDSA", "kid": "k1", "typ": "JWT"},
    {"alg": "EdDSA", "kid": "k1"},
    {"alg": "EdDSA", "kid": 1, "typ": "kop+jwt"},
    {"alg": "EdDSA", "typ": "kop+jwt"},
    {"alg": "EdDSA", "kid": "k1", "typ": "kop+jwt", "crit": ["exp"]},
])
def test_header_violations_are_malformed_whatever_the_signature(
    signer: Signer, keys: KeySet, header: dict[str, object]
) -> None:
    assert reason(signer.token(header=header), keys) == "malformed"


def test_embedded_jwk_is_ignored_and_never_used_as_a_key(signer: Signer, keys: KeySet) -> None:
    other = Signer("k1")
    hdr = {"alg": "EdDSA", "kid": "k1", "typ": "kop+jwt", "jwk": other.jwk(), "jku": "http://x"}
    assert reason(other.token(header=hdr), keys) == "bad_signature"
    assert verify(signer.token(header=hdr), keys, now=NOW).jti == "jti-1"


def test_duplicate_member_names_are_malformed(signer: Signer, keys: KeySet) -> None:
    claims = json.dumps(signer.claims())
    dup_claim = claims[:-1] + ', "acc": "A-99"}'
    assert reason(signer.raw('{"alg":"EdDSA","kid":"k1","typ":"kop+jwt"}', dup_claim), keys) == "malformed"
    dup_hdr = '{"alg":"EdDSA","kid":"k1","typ":"kop+jwt","kid":"k2"}'
    assert reason(signer.raw(dup_hdr, claims), keys) == "malformed"


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_malformed(signer: Signer, keys: KeySet, bad: str) -> None:
    claims = json.dumps(signer.claims())[:-1] + f', "extra": {bad}}}'
    assert reason(signer.raw('{"alg":"EdDSA","kid":"k1","typ":"kop+jwt"}', claims), keys) == "malformed"


def test_non_json_non_object_and_bad_utf8_are_malformed(signer: Signer, keys: KeySet) -> None:
    hdr = '{"alg":"EdDSA","kid":"k1","typ":"kop+jwt"}'
    for payload in ["[1,2]", "not json", '"s"']:
        assert reason(signer.raw(hdr, payload), keys) == "malformed"
    h, bad_utf8, sig = b64(hdr.encode()), b64(bytes([0xFF, 0xFE])), b64(b"x" * 64)
    assert reason(f"{h}.{bad_utf8}.{sig}", keys) == "malformed"


@pytest.mark.parametrize("claims", [
    {"iss": 1}, {"sub": None}, {"acc": ...}, {"tier": 3}, {"jti": ["x"]},
    {"seg": "students"}, {"ofr": [1]}, {"bal": -1}, {"bal": True}, {"cap": 1.0},
    {"cap": ...}, {"new": 0}, {"iat": "1"}, {"exp": 1.5}, {"exp": False},
    {"fav": "dairy"}, {"bd": 1120}, {"bdok": "yes"},
])
def test_claim_type_violations_are_malformed(signer: Signer, keys: KeySet, claims: dict[str, object]) -> None:
    assert reason(signer.token(**claims), keys) == "malformed"


def test_optional_and_unknown_claims_are_accepted(signer: Signer, keys: KeySet) -> None:
    code = signer.token(fav={"cat": "dairy", "until": "2026-12-10"}, bd="11-22", bdok=True, extra=1.5)
    assert verify(code, keys, now=NOW).claims["fav"]["cat"] == "dairy"


def test_malformed_wins_over_a_bad_signature(signer: Signer, keys: KeySet) -> None:
    code = signer.raw('{"alg":"EdDSA","kid":"k1","typ":"kop+jwt"}', json.dumps(signer.claims(bal=-5)), sign=False)
    assert reason(code, keys) == "malformed"


def test_an_unknown_kid_is_unknown_key_and_no_other_key_is_tried(signer: Signer, keys: KeySet) -> None:
    hdr = {"alg": "EdDSA", "kid": "K1", "typ": "kop+jwt"}
    assert reason(signer.token(header=hdr), keys) == "unknown_key"


def test_signature_not_64_bytes_or_not_verifying_is_bad_signature(signer: Signer, keys: KeySet) -> None:
    h, p, s = signer.token().split(".")
    assert reason(f"{h}.{p}.", keys) == "bad_signature"
    assert reason(f"{h}.{p}.{b64(b'x' * 63)}", keys) == "bad_signature"
    assert reason(f"{h}.{p}.{b64(b'x' * 64)}", keys) == "bad_signature"
    tampered = signer.token(bal=999999).split(".")[1]
    assert reason(f"{h}.{tampered}.{s}", keys) == "bad_signature"


def test_another_program_is_wrong_program(signer: Signer, keys: KeySet) -> None:
    assert reason(signer.token(iss="other"), keys) == "wrong_program"
    assert reason(signer.token(iss="Kopilka"), keys) == "wrong_program"


def test_iat_exactly_120_seconds_ahead_passes_and_121_is_not_yet_valid(signer: Signer, keys: KeySet) -> None:
    assert verify(signer.token(iat=NOW + 120, exp=NOW + 400), keys, now=NOW)
    assert reason(signer.token(iat=NOW + 121, exp=NOW + 400), keys) == "not_yet_valid"
    assert reason(signer.token(iat=NOW + 120, exp=NOW + 400), keys, now=NOW - 0.001) == "not_yet_valid"


def test_exp_exactly_30_seconds_ago_passes_and_31_is_expired(signer: Signer, keys: KeySet) -> None:
    assert verify(signer.token(exp=NOW - 30), keys, now=NOW)
    assert reason(signer.token(exp=NOW - 31), keys) == "expired"
    assert reason(signer.token(exp=NOW - 30), keys, now=NOW + 0.001) == "expired"


def test_now_as_an_aware_datetime_is_exact(signer: Signer, keys: KeySet) -> None:
    at = datetime.fromtimestamp(NOW + 330, tz=timezone.utc)
    assert verify(signer.token(), keys, now=at)


def test_a_jti_that_closed_a_sale_is_replayed(signer: Signer, keys: KeySet) -> None:
    assert reason(signer.token(), keys, used_jti={"jti-1"}) == "replayed"
    assert reason(signer.token(), keys, used_jti=lambda j: j == "jti-1") == "replayed"
    assert verify(signer.token(jti="jti-2"), keys, now=NOW, used_jti={"jti-1"})


def test_checks_run_in_spec_order(signer: Signer, keys: KeySet) -> None:
    # wrong program + expired + replayed: wrong_program is reported first.
    code = signer.token(iss="other", exp=NOW - 100)
    assert reason(code, keys, used_jti={"jti-1"}) == "wrong_program"
    assert reason(signer.token(exp=NOW - 100), keys, used_jti={"jti-1"}) == "expired"


def test_jwks_skips_foreign_and_broken_keys(signer: Signer) -> None:
    jwks = {"keys": [{"kty": "RSA", "kid": "r"}, {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AA"},
                     {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"}, "junk", signer.jwk()]}
    assert KeySet.from_jwks(jwks).kids() == ["k1"]
    assert len(KeySet.from_jwks({"keys": "no"})) == 0


def test_keys_can_rotate_with_several_kids(signer: Signer) -> None:
    new = Signer("k2")
    ks = KeySet.from_jwks({"keys": [signer.jwk(), new.jwk()]})
    assert verify(new.token(), ks, now=NOW).kid == "k2"
    assert verify(signer.token(), ks, now=NOW).kid == "k1"


def test_offline_redeemable_is_cap_bounded_by_balance_minus_already_redeemed(signer: Signer, keys: KeySet) -> None:
    tok = verify(signer.token(bal=1500, cap=1000), keys, now=NOW)
    assert offline_redeemable(tok, 0) == 1000
    assert offline_redeemable(tok, 400) == 600
    assert offline_redeemable(tok, 5000) == 0
    low = verify(signer.token(bal=300, cap=1000), keys, now=NOW)
    assert offline_redeemable(low, 100) == 200


def test_every_reason_has_plain_words_and_cards_are_masked() -> None:
    for r in REASONS:
        assert len(message_for(r)) > 20 and "_" not in message_for(r)
    assert mask_card("2900000123454") == "****3454" and mask_card("123") == "****" and mask_card("12345") == "****"


# ---------------------------------------------------------------- CLI


def run_cli(tmp_path, signer: Signer, *args: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(signer.jwks()))
    return CliRunner().invoke(token_group, ["verify", "--keys", str(path), *args])


def test_cli_prints_claims_with_exit_0(tmp_path, signer: Signer) -> None:
    res = run_cli(tmp_path, signer, "--program", PROGRAM, "--now", "2026-11-18T11:06:40Z", signer.token())
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["jti"] == "jti-1"


def test_cli_prints_a_card_as_a_string(tmp_path, signer: Signer) -> None:
    card = ean13("290000012345")
    res = run_cli(tmp_path, signer, card)
    assert res.exit_code == 0 and json.loads(res.stdout) == {"card": card}


@pytest.mark.parametrize("now,expect", [("2026-11-18T11:12:10Z", 0), ("2026-11-18T11:12:11Z", 2),
                                        ("2026-11-18T18:12:10+07:00", 0)])
def test_cli_now_fixes_the_clock_with_exact_boundaries(tmp_path, signer: Signer, now: str, expect: int) -> None:
    # exp = NOW + 300 = 11:11:40Z; +30 s grace = 11:12:10Z
    res = run_cli(tmp_path, signer, "--now", now, signer.token())
    assert res.exit_code == expect
    if expect:
        assert res.stderr.strip() == "error: expired"


def test_cli_reports_each_reason_on_stderr_with_exit_2(tmp_path, signer: Signer) -> None:
    cases = {"malformed": "abc", "bad_check_digit": ean13("290000012345")[:-1] + "0"
             if ean13("290000012345")[-1] != "0" else ean13("290000012345")[:-1] + "1",
             "wrong_program": signer.token(iss="x")}
    for want, code in cases.items():
        res = run_cli(tmp_path, signer, "--program", PROGRAM, "--now", "2026-11-18T11:06:40Z", code)
        assert res.exit_code == 2 and res.stderr.strip() == f"error: {want}"


def test_cli_rejects_a_now_without_offset(tmp_path, signer: Signer) -> None:
    res = run_cli(tmp_path, signer, "--now", "2026-11-18T11:06:40", signer.token())
    assert res.exit_code == 2 and "--now" in res.output
