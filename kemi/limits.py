"""Cluster-wide CPS and concurrent-call limits: one Redis round trip per call setup.

Every node shares one Redis. A Redis function library (``LIBRARY``, loaded by the node's sync
process) does, atomically, what a call needs at setup: the originator's CPS and concurrency
checked and counted, then the candidate vendors' in route order, the first one with room
taking its slot. Later attempts of other limited vendors take theirs with ``akira_attempt``
(one round trip per failover). Slots are released without any round trip on the SIP path:
the call's end puts a release record in the node's journal and the relay runs them in
batches (kemi.relay).

A slot is a member of ``akira:slots:{trunk}:{incarnation}``, where the incarnation names one
run of one node's Kamailio. Each node's relay keeps ``akira:alive:{incarnation}`` alive
(``AKIRA_SLOTS_ALIVE_MS``, default ``ALIVE_MS``); when a node dies (kill -9 included), its key
expires and the next setup that counts the trunk drops that incarnation's slots: no leak
outlives a dead node by more than that time. A release is a SREM: harmless when repeated or late.

Arguments travel as one packed string (digits, names of ``[A-Za-z0-9._:-]``, separators), so
no Call-ID or other caller-made text ever reaches a Redis command line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ALIVE_MS = 10_000

LIBRARY = r"""#!lua name=akira

local function slots_in_use(trunk)
    local total = 0
    for _, incarnation in ipairs(redis.call('SMEMBERS', 'akira:inc:' .. trunk)) do
        if redis.call('EXISTS', 'akira:alive:' .. incarnation) == 1 then
            total = total + redis.call('SCARD', 'akira:slots:' .. trunk .. ':' .. incarnation)
        else
            redis.call('DEL', 'akira:slots:' .. trunk .. ':' .. incarnation)
            redis.call('SREM', 'akira:inc:' .. trunk, incarnation)
        end
    end
    return total
end

-- "" when the trunk can take the call (and it is counted), else "cps" or "concurrency".
-- CPS windows are whole seconds of Redis's clock, the same for every node.
local function take(trunk, cps, concurrent, incarnation, member)
    local second = redis.call('TIME')[1]
    if cps > 0 then
        local key = 'akira:cps:' .. trunk .. ':' .. second
        local used = tonumber(redis.call('GET', key) or '0')
        if used >= cps then return 'cps' end
    end
    if concurrent > 0 and slots_in_use(trunk) >= concurrent then return 'concurrency' end
    if cps > 0 then
        local key = 'akira:cps:' .. trunk .. ':' .. second
        redis.call('INCR', key)
        redis.call('EXPIRE', key, 2)
    end
    if concurrent > 0 then
        redis.call('SADD', 'akira:slots:' .. trunk .. ':' .. incarnation, member)
        redis.call('SADD', 'akira:inc:' .. trunk, incarnation)
    end
    return ''
end

local function release(trunk, incarnation, member)
    redis.call('SREM', 'akira:slots:' .. trunk .. ':' .. incarnation, member)
end

local function split(text, separator)
    local parts = {}
    for part in string.gmatch(text .. separator, '([^' .. separator .. ']*)' .. separator) do
        table.insert(parts, part)
    end
    return parts
end

-- A node that asks is alive: its key is made if the relay has not renewed it yet (a Redis
-- that lost its keys, say), so a node's own slots are never purged under it.
local function alive(incarnation, ttl)
    redis.call('SET', 'akira:alive:' .. incarnation, 1, 'PX', ttl, 'NX')
end

-- ARGV[1]: incarnation:ttl|member|trunk,cps,concurrent|trunk,cps,concurrent|...
-- (the first trunk is the originator's, "" when it has no limits; then the vendors in order)
-- -> "o:<reason>" (the call is refused), or "ok|<vendor that took a slot>|<trunk>:<reason>,..."
local function setup(keys, args)
    local parts = split(args[1], '|')
    local node = split(parts[1], ':')
    local incarnation, member = node[1], parts[2]
    alive(incarnation, tonumber(node[2]))
    if parts[3] ~= '' then
        local o = split(parts[3], ',')
        local over = take(o[1], tonumber(o[2]), tonumber(o[3]), incarnation, member)
        if over ~= '' then return 'o:' .. over end
    end
    local skipped = {}
    for i = 4, #parts do
        -- a vendor without limits takes the call as it is: nothing to count
        if parts[i] == '' then return 'ok||' .. table.concat(skipped, ',') end
        local t = split(parts[i], ',')
        local over = take(t[1], tonumber(t[2]), tonumber(t[3]), incarnation, member)
        if over == '' then return 'ok|' .. t[1] .. '|' .. table.concat(skipped, ',') end
        table.insert(skipped, t[1] .. ':' .. over)
    end
    return 'ok||' .. table.concat(skipped, ',')
end

-- ARGV[1]: incarnation:ttl|member|released trunk|trunk,cps,concurrent
-- -> "" (the next vendor took its slot) or its reason
local function attempt(keys, args)
    local parts = split(args[1], '|')
    local node = split(parts[1], ':')
    alive(node[1], tonumber(node[2]))
    if parts[3] ~= '' then release(parts[3], node[1], parts[2]) end
    local t = split(parts[4], ',')
    return take(t[1], tonumber(t[2]), tonumber(t[3]), node[1], parts[2])
end

-- ARGV: incarnation|member|trunk,trunk,... (one record per argument)
local function release_all(keys, args)
    for _, record in ipairs(args) do
        local parts = split(record, '|')
        for _, trunk in ipairs(split(parts[3], ',')) do
            if trunk ~= '' then release(trunk, parts[1], parts[2]) end
        end
    end
    return #args
end

redis.register_function('akira_setup', setup)
redis.register_function('akira_attempt', attempt)
redis.register_function('akira_release', release_all)
"""


def member(call_id: str) -> str:
    """A call's slot name: a digest, so caller-made text never reaches Redis."""
    return hashlib.blake2b(call_id.encode(), digest_size=10).hexdigest()


def trunk(kind: str, trunk_id: int) -> str:
    return f"{kind}{trunk_id}"  # "o12": originator 12, "t7": terminator 7


def limits_of(kind: str, trunk_id: int, cps: int | None, concurrent: int | None) -> str:
    if cps is None and concurrent is None:
        return ""
    return f"{trunk(kind, trunk_id)},{cps or 0},{concurrent or 0}"


@dataclass(frozen=True, slots=True)
class SetupAnswer:
    originator_over: str | None  # "cps-limit" / "concurrency-limit": the call is refused
    taken: int | None  # the vendor that took a slot at setup (None: none limited had room)
    terminators_over: dict[int, str]  # vendors skipped, and why


REASONS = {"cps": "cps-limit", "concurrency": "concurrency-limit"}


def setup_argument(
    incarnation: str, alive_ms: int, call_member: str, originator: str, vendors: list[str]
) -> str:
    return "|".join((f"{incarnation}:{alive_ms}", call_member, originator, *vendors))


def parse_setup(reply: str) -> SetupAnswer:
    if reply.startswith("o:"):
        return SetupAnswer(REASONS[reply[2:]], None, {})
    _, taken, skipped = reply.split("|")
    over = {}
    for item in filter(None, skipped.split(",")):
        name, reason = item.split(":")
        over[int(name[1:])] = REASONS[reason]
    return SetupAnswer(None, int(taken[1:]) if taken else None, over)


def attempt_argument(
    incarnation: str, alive_ms: int, call_member: str, released: str, vendor: str
) -> str:
    return "|".join((f"{incarnation}:{alive_ms}", call_member, released, vendor))


def release_record(incarnation: str, call_member: str, trunks: list[str]) -> str:
    """One journal line the relay turns into an ``akira_release`` argument."""
    return f"R {incarnation}|{call_member}|{','.join(trunks)}"
