"""Overload shedding: the SIP socket's queue as /proc shows it, and the controller."""

from kemi.overload import SheddingController, listen_port, queued_bytes

UDP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout
 1234: 0100007F:13C4 00000000:0000 07 00000000:00078000 00:00000000 00000000     0        0
 1235: 0100007F:1F90 00000000:0000 07 00000000:00001000 00:00000000 00000000     0        0
"""


def test_the_queue_of_our_port_is_read_from_proc():
    assert listen_port("udp:127.0.0.1:5060") == 5060
    assert queued_bytes(UDP, 5060) == 0x78000
    assert queued_bytes(UDP, 5061) == 0


def test_a_hiccup_is_not_overload_but_a_lasting_queue_is():
    controller = SheddingController(high=1000, low=100)
    assert controller.update(5000) == 0  # one tick above: patience
    assert controller.update(50) == 0
    shed = [controller.update(2000) for _ in range(5)]
    assert shed[:2] == [0, 0] and 0 < shed[2] < shed[3] < shed[4]


def test_a_draining_queue_is_not_shed_further():
    controller = SheddingController(high=1000, low=100, patience=1)
    controller.update(3000)
    controller.update(4000)
    held = controller.shed
    assert held > 0
    assert [controller.update(q) for q in (3500, 2500, 1500)] == [held] * 3  # working it off
    assert controller.update(2000) > held  # growing again


def test_shedding_eases_off_when_the_queue_drains_and_never_passes_all():
    controller = SheddingController(high=1000, low=100, patience=1)
    for _ in range(100):
        controller.update(50_000)
    assert controller.shed == 1000
    controller.update(500)  # between low and high: hold
    assert controller.shed == 1000
    steps = 0
    while controller.update(0):
        steps += 1
    assert steps == 1000 // controller.ease_step - 1


def test_the_queue_of_an_inherited_socket_is_its_own_receive_memory():
    """What a timer process reads: the SIP socket it inherited, one getsockopt per tick; the
    same figure as /proc/net/udp's rx_queue."""
    import socket
    import time

    from kemi.overload import LoadMonitor, proc_queued

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    others = socket.socketpair()  # Kamailio holds unix sockets too: passed over
    port = sip.getsockname()[1]
    try:
        monitor = LoadMonitor(port, SheddingController(high=10**9, low=0))
        monitor.tick()
        assert monitor.sockets and monitor.queued == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
            for _ in range(8):
                caller.sendto(b"INVITE" * 100, ("127.0.0.1", port))
        deadline = time.monotonic() + 2
        while monitor.queued == 0 and time.monotonic() < deadline:
            monitor.tick()
        assert monitor.queued > 8 * 600  # each datagram's buffer, not just its bytes
        assert monitor.queued == proc_queued(port)
        assert LoadMonitor(port + 1 if port < 65535 else port - 1, monitor.controller).tick() == 0
    finally:
        for duplicate in monitor.sockets or []:
            duplicate.close()
        sip.close()
        for other in others:
            other.close()
