"""The quality refresh job's loop and its command line (the publishing itself:
tests/integration/test_quality.py)."""

from __future__ import annotations

from redis import RedisError

from admin.cli import build_parser
from admin.quality import QualityPublication, run_every


def publication(digest: str) -> QualityPublication:
    return QualityPublication(digest, 3, 2, "2026-12-03T15:00:00+00:00", 0.0, 300.0)


def test_a_failed_round_is_logged_and_the_next_one_retries():
    answers = iter([publication("a" * 64), RedisError("down"), publication("b" * 64)])

    def publish_once():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    logged: list[str] = []
    run_every(0.0, publish_once, logged.append, rounds=3)
    assert logged[0].startswith("akira quality: 3 entries of 2 terminators since 2026-12-03")
    assert logged[1].endswith("publish failed, retrying next round: RedisError: down")
    assert logged[2].endswith("(bbbbbbbbbbbb)")


def test_every_takes_the_configured_interval_unless_given_one():
    parse = build_parser().parse_args
    assert parse(["quality", "publish"]).every is None  # once
    assert parse(["quality", "publish", "--every"]).every == -1.0  # AKIRA_QUALITY_SECONDS
    arguments = parse(["quality", "publish", "--every", "30", "--window", "15"])
    assert (arguments.every, arguments.window) == (30.0, 15)
