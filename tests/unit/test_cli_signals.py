"""`akira` restores SIGPIPE's default action for commands whose output goes to a pipe, never
for the long-running services: there a peer dying under a write must be an error they retry,
not a silent end of the process."""

import pytest

from admin import cli


@pytest.mark.parametrize(
    ("argv", "service"),
    [
        (["worker"], True),
        (["cdr-relay"], True),
        (["serve"], True),
        (["alerts", "--deliver"], True),
        (["alerts"], False),  # prints JSON lines: `akira alerts | head` ends quietly
        (["status"], False),
    ],
)
def test_only_services_keep_pythons_sigpipe_handling(argv, service):
    assert cli.is_service(cli.build_parser().parse_args(argv)) is service
