"""Say in one line which port a command cannot listen on, before it starts anything."""

import errno
import socket


def port_problem(host: str, port: int) -> str | None:
    """Why ``host``:``port`` cannot be listened on (taken, not allowed, not an address of
    this machine), or None when it can. Port 0 (any free port) always can."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"host {host!r} is not an address of this machine ({exc.strerror})"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as uvicorn listens: a port in TIME_WAIT after a previous run is free to take
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use by another program"
            if exc.errno == errno.EACCES:
                return f"port {port} on {host} needs privileges this user does not have"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None
