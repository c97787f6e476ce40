"""Cluster-wide CPS and concurrent-call limits and prepaid credit: one Redis round trip per
call setup.

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

Credit (docs/money.md "Credit control"): ``akira:credit:{company}`` holds the account's
``available`` money (balance + credit limit, 1e-8 units, set from PostgreSQL by the rater and
the admin) and ``settling``, the reservations of calls that ended but whose CDR is not posted
yet. A setup for a prepaid customer computes free = available - settling - the reservations of
calls in flight on live nodes; if it does not buy the first increment (and connect fee) the
call is refused, else the longest talk time it buys (up to the originator's max duration) is
reserved and becomes the call's dialog timeout. At the end the reservation moves to
``settling`` (answered) or goes (not answered); the rater removes it from ``settling`` once the
CDR's charge is in PostgreSQL and ``available`` says so. A dead node's reservations of calls in
flight expire with it, like its slots.

Arguments travel as one packed string (digits, names of ``[A-Za-z0-9._:-]``, separators), so
no Call-ID or other caller-made text ever reaches a Redis command line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kemi.rates import Rate

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

-- Credit: money in integer units of 1e-8 (exact in Lua's doubles below 2^53).
local function credit_free(company)
    local account = 'akira:credit:' .. company
    local available = redis.call('HGET', account, 'available')
    if not available then return nil end
    local free = tonumber(available) - tonumber(redis.call('HGET', account, 'settling') or '0')
    local totals = 'akira:resvtot:' .. company
    local held = redis.call('HGETALL', totals)
    for i = 1, #held, 2 do
        local incarnation = held[i]
        if redis.call('EXISTS', 'akira:alive:' .. incarnation) == 1 then
            free = free - tonumber(held[i + 1])
        else
            redis.call('HDEL', totals, incarnation)
            redis.call('DEL', 'akira:resv:' .. company .. ':' .. incarnation)
        end
    end
    return free
end

local function billed(seconds, initial, nxt, minimum)
    if seconds < minimum then seconds = minimum end
    if seconds <= initial then return initial end
    return initial + math.ceil((seconds - initial) / nxt) * nxt
end

-- The longest talk time (seconds, at most maxdur) whose price fits in free, and that price;
-- 0 when not even the first increment does. price(b) = fee + ceil(b * rate / 60) fits in
-- free exactly when b * rate <= (free - fee) * 60: integers, no rounding.
local function affordable(free, rate, fee, initial, nxt, minimum, maxdur)
    local budget = (free - fee) * 60
    local first = billed(1, initial, nxt, minimum)
    if budget < 0 or first * rate > budget then return 0, 0 end
    local seconds = maxdur
    if rate > 0 then
        local most = math.floor(budget / rate)
        while most * rate > budget do most = most - 1 end
        while (most + 1) * rate <= budget do most = most + 1 end
        if most >= initial then
            most = initial + math.floor((most - initial) / nxt) * nxt
        end
        if most < seconds then seconds = most end
    end
    return seconds, fee + math.ceil(billed(seconds, initial, nxt, minimum) * rate / 60)
end

local function reserve(company, incarnation, member, amount)
    redis.call('HSET', 'akira:resv:' .. company .. ':' .. incarnation, member, amount)
    redis.call('HINCRBY', 'akira:resvtot:' .. company, incarnation, amount)
end

-- The call is over: its reservation goes to "settling" (answered: the rater takes it off once
-- the charge is posted) or goes away (not answered: nothing to charge).
local function unreserve(company, incarnation, member, answered)
    local key = 'akira:resv:' .. company .. ':' .. incarnation
    local amount = redis.call('HGET', key, member)
    if not amount then return end
    redis.call('HDEL', key, member)
    redis.call('HINCRBY', 'akira:resvtot:' .. company, incarnation, -tonumber(amount))
    if answered then
        redis.call('HSET', 'akira:settle:' .. company, member, amount)
        redis.call('HINCRBY', 'akira:credit:' .. company, 'settling', amount)
    end
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

-- ARGV[1]: incarnation:ttl|member|credit|trunk,cps,concurrent|trunk,cps,concurrent|...
-- credit: "" or company,rate,fee,initial,next,minimum,maxdur (the customer's terms); then the
-- originator's limits ("" when it has none), then the vendors in route order
-- -> "o:<reason>" (the call is refused), or
--    "ok|<vendor that took a slot>|<trunk>:<reason>,...|<seconds the credit buys, or "">"
local function setup(keys, args)
    local parts = split(args[1], '|')
    local node = split(parts[1], ':')
    local incarnation, member = node[1], parts[2]
    alive(incarnation, tonumber(node[2]))
    local company, seconds, amount = nil, '', 0
    if parts[3] ~= '' then  -- checked first: a call it refuses counts nowhere
        local c = split(parts[3], ',')
        company = c[1]
        local free = credit_free(company)
        if free == nil then return 'o:nocredit' end
        seconds, amount = affordable(free, tonumber(c[2]), tonumber(c[3]), tonumber(c[4]),
            tonumber(c[5]), tonumber(c[6]), tonumber(c[7]))
        if seconds <= 0 then return 'o:credit' end
    end
    if parts[4] ~= '' then
        local o = split(parts[4], ',')
        local over = take(o[1], tonumber(o[2]), tonumber(o[3]), incarnation, member)
        if over ~= '' then return 'o:' .. over end
    end
    if company then reserve(company, incarnation, member, amount) end
    local skipped, taken = {}, ''
    for i = 5, #parts do
        -- a vendor without limits takes the call as it is: nothing to count
        if parts[i] == '' then break end
        local t = split(parts[i], ',')
        local over = take(t[1], tonumber(t[2]), tonumber(t[3]), incarnation, member)
        if over == '' then taken = t[1] break end
        table.insert(skipped, t[1] .. ':' .. over)
    end
    return 'ok|' .. taken .. '|' .. table.concat(skipped, ',') .. '|' .. seconds
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

-- ARGV: incarnation|member|trunk,trunk,...[|company+ or company-] (one record per argument;
-- the last part, when there, ends the call's credit reservation: + answered, - not)
local function release_all(keys, args)
    for _, record in ipairs(args) do
        local parts = split(record, '|')
        for _, trunk in ipairs(split(parts[3], ',')) do
            if trunk ~= '' then release(trunk, parts[1], parts[2]) end
        end
        if parts[4] and parts[4] ~= '' then
            local company, sign = string.match(parts[4], '^(%d+)([+-])$')
            if company then unreserve(company, parts[1], parts[2], sign == '+') end
        end
    end
    return #args
end

-- ARGV: company, available (1e-8 units), as-of (the highest ledger entry id it includes)
-- A value older than the one stored (a slower writer) is ignored.
local function credit_set(keys, args)
    local account = 'akira:credit:' .. args[1]
    local stored = tonumber(redis.call('HGET', account, 'as_of') or '-1')
    if tonumber(args[3]) < stored then return 0 end
    redis.call('HSET', account, 'available', args[2], 'as_of', args[3])
    return 1
end

-- ARGV: company, member, member, ...: these calls' charges are posted; stop holding them.
local function credit_settled(keys, args)
    local company = args[1]
    local settle = 'akira:settle:' .. company
    local done = 0
    for i = 2, #args do
        local amount = redis.call('HGET', settle, args[i])
        if amount then
            redis.call('HDEL', settle, args[i])
            redis.call('HINCRBY', 'akira:credit:' .. company, 'settling', -tonumber(amount))
            done = done + 1
        end
    end
    return done
end

redis.register_function('akira_setup', setup)
redis.register_function('akira_attempt', attempt)
redis.register_function('akira_release', release_all)
redis.register_function('akira_credit_set', credit_set)
redis.register_function('akira_credit_settled', credit_settled)
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
    credit_seconds: int | None = None  # the talk time the prepaid credit buys (reserved)


REASONS = {
    "cps": "cps-limit",
    "concurrency": "concurrency-limit",
    "credit": "no-credit",
    "nocredit": "credit-unavailable",  # no balance in Redis for the account yet
}


def credit_of(company_id: int, rate: Rate, max_duration: int) -> str:
    """The credit part of a setup: the prepaid company and the customer's terms."""
    return (
        f"{company_id},{rate.rate},{rate.connect_fee},{rate.initial_increment},"
        f"{rate.next_increment},{rate.minimum_duration},{max_duration}"
    )


def setup_argument(
    incarnation: str,
    alive_ms: int,
    call_member: str,
    credit: str,
    originator: str,
    vendors: list[str],
) -> str:
    return "|".join((f"{incarnation}:{alive_ms}", call_member, credit, originator, *vendors))


def parse_setup(reply: str) -> SetupAnswer:
    if reply.startswith("o:"):
        return SetupAnswer(REASONS[reply[2:]], None, {})
    _, taken, skipped, seconds = reply.split("|")
    over = {}
    for item in filter(None, skipped.split(",")):
        name, reason = item.split(":")
        over[int(name[1:])] = REASONS[reason]
    return SetupAnswer(
        None, int(taken[1:]) if taken else None, over, int(seconds) if seconds else None
    )


def attempt_argument(
    incarnation: str, alive_ms: int, call_member: str, released: str, vendor: str
) -> str:
    return "|".join((f"{incarnation}:{alive_ms}", call_member, released, vendor))


def release_record(
    incarnation: str, call_member: str, trunks: list[str], credit_company: int = 0, answered=False
) -> str:
    """One journal line the relay turns into an ``akira_release`` argument: the trunks whose
    slots the call held, and the prepaid company whose reservation it held."""
    line = f"R {incarnation}|{call_member}|{','.join(trunks)}"
    if credit_company:
        line += f"|{credit_company}{'+' if answered else '-'}"
    return line
