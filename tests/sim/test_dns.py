"""DNS responder against xet-transfer-dns.md §6: rcodes, NODATA+SOA, timeouts, CNAME chains, TTLs, TCP."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

# waits for an answer that does come: generous, so a busy machine is never read as a lost answer (a real answer
# returns at once; only the tests of a timeout use a short lifetime, against a delay well past it)
ANSWER_WAIT_S = 10.0


def _resolver(sim, lifetime=ANSWER_WAIT_S):
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = sim.dns_port
    r.timeout = lifetime
    r.lifetime = lifetime
    return r


def test_hf_names_resolve_to_loopback(sim_factory):
    sim = sim_factory("healthy-gradio")
    r = _resolver(sim)
    for name in ("huggingface.co", "hf.co", "simuser-hello-gradio.hf.space", "cas-server.xethub.hf.co",
                 "cas-bridge.xethub.hf.co", "transfer.xethub.hf.co", "cdn-lfs-us-1.hf.co", "us.aws.cdn.hf.co",
                 "status.huggingface.co", "api.telegram.org"):
        ans = r.resolve(name, "A")
        assert [a.address for a in ans] == ["127.0.0.1"], name
        assert ans.rrset.ttl == 60
    assert sim.dns_server == f"127.0.0.1:{sim.dns_port}"


def test_negative_answers(sim_factory):
    sim = sim_factory("healthy-gradio", {"dns.names": {"nx.hf.co": "nxdomain", "sf.hf.co": "servfail",
                                                       "rf.hf.co": "refused", "nd.hf.co": "nodata"}})
    r = _resolver(sim)
    with pytest.raises(dns.resolver.NXDOMAIN):
        r.resolve("nx.hf.co", "A")
    with pytest.raises(dns.resolver.NoNameservers, match="answered SERVFAIL"):
        r.resolve("sf.hf.co", "A")
    with pytest.raises(dns.resolver.NoNameservers, match="answered REFUSED"):
        r.resolve("rf.hf.co", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        r.resolve("nd.hf.co", "A")
    q = dns.message.make_query("nd.hf.co", "A")
    resp = dns.query.udp(q, "127.0.0.1", port=sim.dns_port, timeout=ANSWER_WAIT_S)
    assert resp.rcode() == dns.rcode.NOERROR and not resp.answer
    assert resp.flags & dns.flags.RA
    assert resp.authority and resp.authority[0].rdtype == dns.rdatatype.SOA
    nx = dns.query.udp(dns.message.make_query("nx.hf.co", "A"), "127.0.0.1", port=sim.dns_port,
                       timeout=ANSWER_WAIT_S)
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == dns.rdatatype.SOA
    # AAAA of a known name: NODATA with SOA (default), or ::1
    aaaa = dns.query.udp(dns.message.make_query("huggingface.co", "AAAA"), "127.0.0.1", port=sim.dns_port,
                         timeout=ANSWER_WAIT_S)
    assert aaaa.rcode() == dns.rcode.NOERROR and not aaaa.answer and aaaa.authority


def test_timeout_drop_and_delay(sim_factory):
    # the delay is well past the lifetime: at exactly the lifetime, an answer may still win the race
    sim = sim_factory("egress-dns-timeout", {"dns.names": {"cdn-lfs.hf.co": "drop",
                                                           "slow.hf.co": {"mode": "ok", "delay_ms": 700}}})
    r = _resolver(sim, lifetime=0.3)
    with pytest.raises(dns.resolver.LifetimeTimeout):
        r.resolve("cdn-lfs.hf.co", "A")
    with pytest.raises(dns.resolver.LifetimeTimeout):
        r.resolve("slow.hf.co", "A")
    assert _resolver(sim).resolve("slow.hf.co", "A")[0].address == "127.0.0.1"


def test_cname_chain_ttls_and_tcp(sim_factory):
    sim = sim_factory("healthy-gradio", {"dns.names": {"huggingface.co": {
        "cname": ["d1.cloudfront.net", "d1.edge.cloudfront.net"], "cname_ttl": 300, "ttl": 20}}})
    ans = _resolver(sim).resolve("huggingface.co", "A")
    assert ans.canonical_name.to_text() == "d1.edge.cloudfront.net."
    assert ans.rrset.ttl == 20 and len(ans.chaining_result.cnames) == 2
    assert ans.chaining_result.minimum_ttl == 20
    tcp = dns.query.tcp(dns.message.make_query("hf.co", "A"), "127.0.0.1", port=sim.dns_port,
                        timeout=ANSWER_WAIT_S)
    assert tcp.answer[0][0].address == "127.0.0.1"


def test_egress_scenarios(sim_factory):
    sf = sim_factory("egress-dns-servfail")
    with pytest.raises(dns.resolver.NoNameservers, match="SERVFAIL"):
        _resolver(sf).resolve("cdn-lfs.hf.co", "A")
    assert any("[Errno -3] Temporary failure in name resolution" in line for line in sf.run_log())
    nx = sim_factory("egress-dns-nxdomain")
    with pytest.raises(dns.resolver.NXDOMAIN):
        _resolver(nx).resolve("cdn-lfs.hf.co", "A")
    assert any('"error":"[Errno -2] Name or service not known"' in line for line in nx.run_log())
    pb = sim_factory("egress-port-blocked")
    assert _resolver(pb).resolve("smtp.gmail.com", "A")[0].address == "127.0.0.1"
    marks = [line for line in pb.run_log() if line.startswith('hfdiag-marker {"event":"egress"')]
    assert '"port":587' in marks[0] and '"tcp":false' in marks[0]
    ch = sim_factory("egress-challenge-page")
    assert any('"challenge":true' in line for line in ch.run_log())


def test_unknown_names_default(sim_factory):
    sim = sim_factory("healthy-gradio")
    with pytest.raises(dns.resolver.NXDOMAIN):
        _resolver(sim).resolve("not-a-known-name.example", "A")
    ref = sim_factory("healthy-gradio", {"dns.default": "refused"})
    with pytest.raises(dns.resolver.NoNameservers, match="REFUSED"):
        _resolver(ref).resolve("not-a-known-name.example", "A")
