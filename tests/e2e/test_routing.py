"""Routing completeness through the real Kamailio: digest credentials, trunks behind one
address, number and caller-ID rules, long numbers, overrides, blocked prefixes, per-attempt
timeouts and weighted shares (limits and vendor health: test_limits.py, test_health.py)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from collections import Counter

import pytest

from admin import catalog
from admin import routing_settings as rs
from admin.catalog import RateRow
from tests.e2e import catalog as c
from tests.e2e.conftest import PROXY, SIP_IP, SIP_PORT
from tests.e2e.rawsip import Call, Endpoint, Listener, final, request, token
from tests.e2e.sipp import SCENARIOS, free_udp_port

pytestmark = pytest.mark.e2e

DIGEST_IP = "127.0.0.5"
SHARED_IP = "127.0.0.6"
PASSWORD = "s3cret-pass"


@pytest.fixture
def ids(platform):
    return c.load(platform.conn)


def plan_of(conn, originator_id: int) -> int:
    return conn.execute(
        "SELECT routing_plan_id FROM originators WHERE id = %s", (originator_id,)
    ).fetchone()[0]


def change(platform, table: str, row_id: int, **settings) -> None:
    with platform.conn.transaction():
        rs.update(platform.conn, table, row_id, settings)


def listeners(answer: int = 486) -> dict[str, Listener]:
    return {name: Listener("127.0.0.1", port, answer=answer) for name, port in c.PORTS.items()}


def invites(vendors: dict[str, Listener]) -> dict[str, list]:
    return {name: v.requests("INVITE") for name, v in vendors.items()}


def raw_call(src_ip: str, number: str, timeout: float = 5.0, **kwargs):
    """One INVITE from ``src_ip``: its final reply (the vendor listeners end calls with 486)."""
    with Endpoint(src_ip) as endpoint:
        return Call(endpoint, (SIP_IP, SIP_PORT), number, **kwargs).invite(timeout)


@pytest.fixture
def vendors():
    group = listeners()
    yield group
    for listener in group.values():
        listener.close()


# --- digest credentials --------------------------------------------------------------------


def digest_originator(platform, ids) -> int:
    with platform.conn.transaction():
        company_id = catalog.company(platform.conn, "Digest Co", customer=True)
        originator_id = catalog.originator(
            platform.conn, company_id, "digest", ids["tariff:customer"],
            plan_of(platform.conn, ids["acme"]), [],
        )  # fmt: skip
        rs.add_credentials(
            platform.conn, originator_id, "trunk7",
            rs.digest_ha1("trunk7", "akira", PASSWORD), "127.0.0.0/8",
        )  # fmt: skip
    platform.publish()
    return originator_id


def test_digest_credentials_right_and_wrong_with_sipp(platform, ids):
    """An INVITE from an address no device has is challenged (407); SIPp's [authentication]
    with the right password is routed and billed to the digest trunk, a wrong one gets 403."""
    originator_id = digest_originator(platform, ids)
    cheap = platform.vendor("cheap", c.PORTS["cheap"])
    right = platform.call(
        c.UK_FIXED,
        DIGEST_IP,
        scenario_file=SCENARIOS / "uac-auth-answered.xml",
        sipp_args=["-au", "trunk7", "-ap", PASSWORD],
    )
    assert right.ok, right.explain()
    assert "407 Proxy Authentication Required" in right.messages
    wrong = platform.call(
        c.UK_FIXED,
        DIGEST_IP,
        scenario_file=SCENARIOS / "uac-auth-refused.xml",
        sipp_args=["-au", "trunk7", "-ap", "not-the-password"],
    )
    assert wrong.ok, wrong.explain()
    assert cheap.invites() == 1
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["originator_id"], cdr["sip_code"]) == (originator_id, 200)
    assert cdr["trace"].startswith(f"originator {originator_id} by digest trunk7")


def digest_response(challenge: str, method: str, uri: str, cnonce: str, nc: str) -> str:
    fields = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge))
    ha1 = rs.digest_ha1("trunk7", fields["realm"], PASSWORD)
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{fields['nonce']}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (
        f'Proxy-Authorization: Digest username="trunk7", realm="{fields["realm"]}", '
        f'nonce="{fields["nonce"]}", uri="{uri}", response="{response}", '
        f'qop=auth, nc={nc}, cnonce="{cnonce}", algorithm=MD5'
    )


def test_a_replayed_digest_response_is_refused(platform, ids, vendors):
    """Credentials computed for one challenge work once; the same response in a new call (a
    replay: same nonce and count) is refused — Kamailio's nonce counting answers it with a
    fresh challenge marked stale, which only the password can meet — and reaches no vendor."""
    digest_originator(platform, ids)
    uri = f"sip:{c.UK_FIXED}@{SIP_IP}:{SIP_PORT}"
    with Endpoint(DIGEST_IP) as endpoint:
        first = request("INVITE", uri, source=endpoint.address, call_id=f"{token()}@x")
        challenge = final(endpoint.transact(first, (SIP_IP, SIP_PORT), 2))
        assert challenge is not None and challenge.status == 407
        header = digest_response(
            challenge.header("proxy-authenticate"), "INVITE", uri, token(), "00000001"
        )
        authorized = request(
            "INVITE", uri, source=endpoint.address, call_id=f"{token()}@x", headers=[header]
        )
        assert final(endpoint.transact(authorized, (SIP_IP, SIP_PORT), 3)).status == 486
        replay = request(
            "INVITE", uri, source=endpoint.address, call_id=f"{token()}@x", headers=[header]
        )
        refused = final(endpoint.transact(replay, (SIP_IP, SIP_PORT), 3))
        assert refused.status == 407
        assert "stale=true" in refused.header("proxy-authenticate").lower()
    assert len(invites(vendors)["cheap"]) == 1


# --- identification, number rules, caller ID -------------------------------------------------


def test_two_trunks_behind_one_address_told_apart_by_a_header(platform, ids, vendors):
    """Two originators share 127.0.0.6; X-Trunk says which one calls (both billed apart); no
    header, or an unknown value: the known address is told unknown-originator."""
    with platform.conn.transaction():
        company_id = catalog.company(platform.conn, "Shared Co", customer=True)
        trunks = {}
        for name in ("east", "west"):
            trunks[name] = catalog.originator(
                platform.conn, company_id, name, ids["tariff:customer"],
                plan_of(platform.conn, ids["acme"]), [f"{SHARED_IP}/32"],
            )  # fmt: skip
            rs.update(
                platform.conn, "originators", trunks[name],
                {"match_header": "X-Trunk", "match_value": name},
            )  # fmt: skip
    platform.publish()
    assert raw_call(SHARED_IP, c.UK_FIXED, headers=["X-Trunk: west"]).status == 486
    assert raw_call(SHARED_IP, c.UK_FIXED, headers=["X-Trunk: east"]).status == 486
    nobody = raw_call(SHARED_IP, c.UK_FIXED, headers=["X-Trunk: north"])
    assert nobody.status == 403 and nobody.header("x-akira-reason") == "unknown-originator"
    cdrs = platform.rate_cdrs(expected=2)
    assert sorted(cdr["originator_id"] for cdr in cdrs) == sorted(trunks.values())


def test_number_rules_rewrite_both_ways(platform, ids, vendors):
    """The customer dials nationally (0...): its rule makes E.164 44...; the vendor wants
    national numbers: its rule sends 0... again. Both as documented, in order."""
    change(
        platform, "originators", ids["acme"],
        number_rules=[{"match": r"^0(\d+)$", "replace": r"44\1"}],
    )  # fmt: skip
    change(platform, "terminators", ids["cheap"], number_rules=[{"strip": 2}, {"prefix": "0"}])
    platform.publish()
    national = "0" + c.UK_FIXED[2:]
    assert raw_call(c.ACME_IP, national).status == 486
    (invite,) = invites(vendors)["cheap"]
    assert invite.start.split()[1].startswith(f"sip:{national}@")
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["called"], cdr["dialed"], cdr["customer_prefix"]) == (c.UK_FIXED, national, "44")
    assert f"number {national} -> {c.UK_FIXED}" in cdr["trace"]


def test_a_16_digit_number_is_routed_and_a_trunks_own_limit_refuses_longer(platform, ids, vendors):
    """German fixed lines with direct-dial extensions reach 16-17 digits: routed by default;
    a trunk with max_digits 15 refuses them with 484."""
    with platform.conn.transaction():
        catalog.copy_rates(platform.conn, ids["tariff:customer"], [RateRow("49", c.D("0.02"))])
        catalog.copy_rates(platform.conn, ids["tariff:cheap"], [RateRow("49", c.D("0.01"))])
    platform.publish()
    long_number = "4930123456789012"
    assert raw_call(c.ACME_IP, long_number).status == 486
    assert invites(vendors)["cheap"][0].start.split()[1].startswith(f"sip:{long_number}@")
    change(platform, "originators", ids["acme"], max_digits=15)
    platform.publish()
    refused = raw_call(c.ACME_IP, long_number)
    assert (refused.status, refused.header("x-akira-reason")) == (484, "invalid-number")


def test_caller_id_policies(platform, ids, vendors):
    """An anonymous caller: 'reject' refuses the call (403 invalid-caller); 'replace' sends
    the trunk's number on as P-Asserted-Identity; a valid caller is sent as +E.164."""
    assert raw_call(c.ACME_IP, c.UK_FIXED, from_user="+15550001").status == 486
    assert "<sip:+15550001@" in invites(vendors)["cheap"][-1].header("p-asserted-identity")
    change(platform, "originators", ids["acme"], cli_policy="reject")
    platform.publish()
    refused = raw_call(c.ACME_IP, c.UK_FIXED, from_user="anonymous")
    assert (refused.status, refused.header("x-akira-reason")) == (403, "invalid-caller")
    change(
        platform, "originators", ids["acme"], cli_policy="replace", cli_replacement="441234000000"
    )
    platform.publish()
    assert raw_call(c.ACME_IP, c.UK_FIXED, from_user="anonymous").status == 486
    pai = invites(vendors)["cheap"][-1].header("p-asserted-identity")
    assert "<sip:+441234000000@" in pai


# --- plans: overrides, blocked prefixes, timeouts, weights ----------------------------------


def test_a_static_override_and_a_blocked_prefix(platform, ids, vendors):
    """44 always goes dear then cheap, whatever the prices; 4477 is blocked for every plan
    (403 blocked-destination, and its CDR)."""
    with platform.conn.transaction():
        plan_id = plan_of(platform.conn, ids["acme"])
        rs.set_override(platform.conn, plan_id, "44", [ids["dear"], ids["cheap"]])
        rs.block_prefix(platform.conn, "4477", reason="fraud")
    platform.publish()
    assert raw_call(c.ACME_IP, c.UK_FIXED).status == 486  # dear's 486 stops the hunt
    assert [len(v) for v in invites(vendors).values()] == [0, 0, 1]
    blocked = raw_call(c.ACME_IP, c.UK_MOBILE)
    assert (blocked.status, blocked.header("x-akira-reason")) == (403, "blocked-destination")
    cdrs = {cdr["sip_code"]: cdr for cdr in platform.rate_cdrs(expected=2)}
    assert "override" in cdrs[486]["trace"]
    assert (cdrs[403]["attempt"], cdrs[403]["reason"]) == (0, "blocked-destination")


def test_a_silent_vendor_fails_over_within_the_plans_ring_timeout(platform, ids):
    """Ring timeout 1 s: no provisional reply from cheap (nothing listens) moves the call to
    mid about a second later, not after tm's default 3 s."""
    change(platform, "routing_plans", plan_of(platform.conn, ids["acme"]), ring_timeout=1)
    platform.publish()
    mid = Listener("127.0.0.1", c.PORTS["mid"], answer=486)
    try:
        assert raw_call(c.ACME_IP, c.UK_FIXED, timeout=5).status == 486
    finally:
        mid.close()
    first, second = platform.rate_cdrs(expected=2)
    assert (first["terminator_id"], first["sip_code"]) == (ids["cheap"], 408)
    waited = (second["started_at"] - first["started_at"]).total_seconds()
    assert 0.9 <= waited <= 1.8, waited


def test_weighted_split_over_2000_calls(platform, ids):
    """cheap weight 300, mid 100, dear 0: cheap gets 75 % of the calls as first choice, mid
    25 %, within 5 points over 2,000 SIPp calls."""
    plan_id = plan_of(platform.conn, ids["acme"])
    change(platform, "routing_plans", plan_id, strategy="weight")
    with platform.conn.transaction():
        for name, weight in (("cheap", 300), ("mid", 100), ("dear", 0)):
            platform.conn.execute(
                "UPDATE routing_plan_entries SET weight = %s "
                "WHERE routing_plan_id = %s AND terminator_id = %s",
                (weight, plan_id, ids[name]),
            )
    platform.publish()
    sipp_vendors = {name: platform.vendor(name, port) for name, port in c.PORTS.items()}
    calls = 2000
    completed = subprocess.run(
        ["sipp", "-sf", str(SCENARIOS / "uac-answered.xml"), "-s", c.UK_FIXED,
         "-i", c.ACME_IP, "-p", str(free_udp_port(c.ACME_IP)), "-m", str(calls), "-r", "250",
         "-d", "0", "-timeout", "60s", "-timeout_error", "-nostdin", PROXY],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    time.sleep(0.5)
    share = Counter({name: v.invites() for name, v in sipp_vendors.items()})
    assert sum(share.values()) == calls and share["dear"] == 0
    assert abs(share["cheap"] / calls - 0.75) <= 0.05, share
    assert abs(share["mid"] / calls - 0.25) <= 0.05, share
    assert len(platform.rate_cdrs(expected=calls)) == calls


def test_a_bad_rule_is_refused_before_it_reaches_the_database(platform, ids):
    with pytest.raises(rs.SettingError, match="replacement refers to group"):
        change(
            platform, "originators", ids["acme"],
            number_rules=[{"match": "^0(\\d+)$", "replace": "\\2"}],
        )  # fmt: skip
    number_rules = platform.conn.execute(
        "SELECT number_rules FROM originators WHERE id = %s", (ids["acme"],)
    ).fetchone()[0]
    assert number_rules == []
