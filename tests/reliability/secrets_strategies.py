"""Hypothesis strategies for secrets of every shape hfdiag must redact, and the part of each that must not leak."""

from __future__ import annotations

import base64
import json

from hypothesis import assume
from hypothesis import strategies as st

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"
# what sits next to a secret in real text: spaces, quotes, punctuation of headers, JSON, URLs and shells
SEPARATORS = st.sampled_from([" ", "\t", "'", '"', "=", ": ", ",", ";", "(", ")", "<", ">", "[", "]", "`", "\n",
                              "\\n", "{", "}", "|"])
PROSE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


hf_tokens = st.builds(lambda p, body: p + body, st.sampled_from(["hf_", "api_org_", "hf_oauth_"]),
                      st.text(alphabet=ALNUM, min_size=30, max_size=40))
jwts = st.builds(lambda claims, sig: f"{_b64({'alg': 'EdDSA', 'typ': 'JWT'})}.{_b64(claims)}.{sig}",
                 st.dictionaries(st.sampled_from(["ip", "user", "exp", "sub", "repo"]),
                                 st.text(alphabet=ALNUM, min_size=1, max_size=12), min_size=1),
                 st.text(alphabet=B64URL, min_size=20, max_size=86))
# with an upper-case letter, a signature is never a substring of the lower-case hex paths around it
signatures = st.text(alphabet=ALNUM, min_size=32, max_size=64).filter(lambda x: any(c.isupper() for c in x))
cloudfront = st.builds(
    lambda path, exp, sig, kp: (f"https://cdn-lfs.hf.co/repos/{path}?response-content-disposition=inline"
                                f"&Expires={exp}&Policy=eyJTdGF0ZW1lbnQiOlt7{sig[:12]}&Signature={sig}"
                                f"&Key-Pair-Id={kp}", sig),
    st.text(alphabet=HEX, min_size=8, max_size=20), st.integers(1_700_000_000, 2_000_000_000), signatures,
    st.text(alphabet=ALNUM.upper(), min_size=10, max_size=14))
s3 = st.builds(
    lambda path, cred, sig: (f"https://s3.us-east-1.amazonaws.com/bucket/{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                             f"&X-Amz-Credential=AKIA{cred}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
                             f"&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
                             f"&X-Amz-Signature={sig}", sig),
    st.text(alphabet=HEX, min_size=8, max_size=20), st.text(alphabet=ALNUM.upper(), min_size=16, max_size=16),
    signatures)
xet = st.builds(
    lambda h, sig: (f"https://transfer.xethub.hf.co/xorbs/default/{h}?X-Xet-Signed-Range=bytes%3D0-1048575"
                    f"&X-Xet-Session-Id=01J{sig[:10]}&Expires=1999999999&Policy=eyJ{sig[:16]}"
                    f"&Signature={sig}&Key-Pair-Id=K2ABC", sig),
    st.text(alphabet=HEX, min_size=64, max_size=64), signatures)
signed_urls = st.one_of(cloudfront, s3, xet)
cookie_values = st.text(alphabet=ALNUM + "-_.%", min_size=16, max_size=48)
cookies = st.builds(lambda name, v, hdr: (f"{hdr}: {name}={v}; Path=/; HttpOnly", v),
                    st.sampled_from(["session", "token", "hf_session", "_ga", "csrftoken"]), cookie_values,
                    st.sampled_from(["Cookie", "Set-Cookie", "cookie", "set-cookie"]))
emails = st.builds(lambda user, dom, tld: f"{user}@{dom}.{tld}",
                   st.text(alphabet=ALNUM + "._+-", min_size=1, max_size=20).filter(
                       lambda u: u[0] not in "._+-" and u[-1] not in "._+-" and ".." not in u),
                   st.text(alphabet=ALNUM.lower() + "-", min_size=2, max_size=15).filter(
                       lambda d: d[0] != "-" and d[-1] != "-"),
                   st.sampled_from(["com", "org", "co", "io", "fr", "co.uk", "dev"]))
bearer = st.builds(lambda tok, hdr: (f"{hdr}: Bearer {tok}", tok),
                   st.one_of(hf_tokens, jwts, st.text(alphabet=ALNUM, min_size=20, max_size=40)),
                   st.sampled_from(["Authorization", "authorization", "Proxy-Authorization"]))

# credentials of other services, by shape (GitHub, AWS, OpenAI-style, Slack)
other_tokens = st.one_of(
    st.builds(lambda p, b: p + b, st.sampled_from(["ghp_", "gho_", "ghs_"]), st.text(alphabet=ALNUM, min_size=36,
                                                                                     max_size=40)),
    st.builds(lambda b: "AKIA" + b, st.text(alphabet=ALNUM.upper(), min_size=16, max_size=16)),
    st.builds(lambda b: "sk-proj-" + b, st.text(alphabet=ALNUM, min_size=24, max_size=48)),
    st.builds(lambda a, b: f"xoxb-{a}-{b}", st.text(alphabet="0123456789", min_size=10, max_size=13),
              st.text(alphabet=ALNUM, min_size=16, max_size=24)),
)
# a secret by context: URL userinfo (connection strings), secret-named query parameters and assignments
passwords = st.text(alphabet=ALNUM + "-_.~", min_size=8, max_size=24).filter(lambda p: any(c.isupper() for c in p))
in_context = st.one_of(
    st.builds(lambda sch, p: (f"{sch}://admin:{p}@db.internal:5432/app", p),
              st.sampled_from(["postgres", "postgresql", "mysql", "redis", "mongodb+srv", "https"]), passwords),
    st.builds(lambda name, p: (f"https://api.example/v1?user=a&{name}={p}&q=1", p),
              st.sampled_from(["password", "hf_token", "api_key", "client_secret", "access_token"]), passwords),
    st.builds(lambda name, sep, p: (f"{name}{sep}{p}", p),
              st.sampled_from(["OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "MY_TOKEN", "db_password", "SECRET"]),
              st.sampled_from(["=", "='", '="', ": ", '": "']), passwords),
)

# (text to place, the part of it that must never appear in any output)
secrets = st.one_of(
    hf_tokens.map(lambda t: (t, t)), jwts.map(lambda t: (t, t)), signed_urls, cookies,
    emails.map(lambda e: (e, e)), bearer, other_tokens.map(lambda t: (t, t)), in_context,
)


@st.composite
def placed(draw, lines=("ModuleNotFoundError: No module named 'torch' {s}",
                        "Scheduling failure: not enough hardware capacity {s}",
                        "RuntimeError: CUDA error: no kernel image is available for execution on the device {s}",
                        "{s}", "INFO: request from {s} failed")):
    """A log line (one a signature captures verbatim) with a secret at a random place, and the secret part."""
    text, secret = draw(secrets)
    template = draw(st.sampled_from(lines))
    left, right = draw(SEPARATORS), draw(SEPARATORS)
    before, after = draw(PROSE), draw(PROSE)
    assume(secret not in before + after)  # the secret is what we placed, not a coincidence of the prose
    return template.replace("{s}", f"{before} {left}{text}{right} {after}"), secret


def spelled_by_chance(items: list[tuple[str, str]]) -> bool:
    """True when the non-secret part of one item spells another item's secret: there it is prose, not a secret,
    and echoing it is right (e.g. prose "0000000000000000" next to a cookie whose value is that string)."""
    return any(secret in text.replace(own, "") for _, secret in items for text, own in items)
