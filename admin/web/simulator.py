"""The route simulator page and API: a source address, a number and a time in, the engine's
own decision and trace out — ``admin.simulate``, the code of ``akira simulate``, on the live
snapshot (fetched to this host's snapshot directory the first time a version is seen)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Template
from redis import Redis, RedisError

from admin import simulate
from admin.settings import Settings

SrcIp = Annotated[str | None, QueryParameter(max_length=64, description="the caller's address")]
Number = Annotated[str | None, QueryParameter(max_length=40, description="the dialed number")]
At = Annotated[str | None, QueryParameter(max_length=40, description="ISO 8601, with a zone")]


def _checked(src_ip: str, number: str, at: str | None) -> tuple[str, str, datetime | None]:
    """The inputs, or a 400 naming the one at fault."""
    errors = {}
    try:
        src_ip = str(ipaddress.ip_address(src_ip.strip()))
    except ValueError:
        errors["src_ip"] = "an IPv4 or IPv6 address"
    number = number.strip()
    if not number.lstrip("+").isdigit():
        errors["number"] = "digits (a leading + allowed)"
    when = None
    if at:
        try:
            when = datetime.fromisoformat(at.strip())
        except ValueError:
            errors["at"] = "ISO 8601, e.g. 2026-12-01T12:00:00+00:00"
        else:
            if when.tzinfo is None:
                errors["at"] = "needs a time zone, e.g. +00:00"
    if errors:
        raise ValidationException("; ".join(f"{k}: {v}" for k, v in errors.items()), extra=errors)
    return src_ip, number, when


def _decide(settings: Settings, src_ip: str, number: str, at: datetime | None) -> dict[str, Any]:
    redis = Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        snapshot = simulate.live_snapshot(redis, settings.snapshot_dir)
        simulate.check_time(snapshot, at)
        down = simulate.gateways_down(redis)
    except simulate.NoSnapshot:
        return simulate.no_snapshot_answer(at)
    except simulate.BeforeSnapshot as exc:
        raise ValidationException(str(exc), extra={"at": str(exc)}) from exc
    finally:
        redis.close()
    call_request = simulate.request(number, src_ip=src_ip, at=at)
    quality = simulate.live_quality(settings.snapshot_dir)
    return simulate.simulate(snapshot, call_request, down, quality)


async def _answer(request: Request, src_ip: str, number: str, at: str | None) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    checked = _checked(src_ip, number, at)
    try:
        return await asyncio.to_thread(_decide, settings, *checked)
    except (RedisError, OSError) as exc:
        raise ValidationException(f"Redis does not answer, no live snapshot to ask: {exc}") from exc


@get("/simulate", name="simulate", include_in_schema=False)
async def simulator_page(
    request: Request, src_ip: SrcIp = None, number: Number = None, at: At = None
) -> Template:
    context: dict[str, Any] = {"src_ip": src_ip or "", "number": number or "", "at": at or ""}
    if src_ip and number:
        try:
            answer = await _answer(request, src_ip, number, at)
        except ValidationException as exc:
            return Template(
                "simulate.html", context={**context, "error": exc.detail}, status_code=400
            )
        context |= {"answer": answer, "answer_json": json.dumps(answer, indent=2)}
    return Template("simulate.html", context=context)


@get(
    "/simulate",
    operation_id="simulate_call",
    summary="What the engine decides for a call from src_ip to number (at a time)",
    tags=["Routing"],
)
async def simulate_api(
    request: Request,
    src_ip: Annotated[str, QueryParameter(max_length=64, description="the caller's address")],
    number: Annotated[str, QueryParameter(max_length=40, description="the dialed number")],
    at: At = None,
) -> dict[str, Any]:
    return await _answer(request, src_ip, number, at)
