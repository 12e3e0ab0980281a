"""Exceptions of the simulator."""


class BrokerUrlError(ValueError):
    """A broker URL that is not ``mqtt://host[:port]``.

    Attributes:
        url: the URL as given.
    """

    def __init__(self, url: str, reason: str) -> None:
        """Describe why ``url`` is not usable."""
        super().__init__(f"broker URL {url!r}: {reason} (expected mqtt://host[:port])")
        self.url = url


class FleetError(ValueError):
    """A valid fleet that the simulator still cannot play.

    Attributes:
        field: dotted path of the offending field (``borrowers.2.devices.0.site``).
        reason: what is wrong, in words a user can act on.
    """

    def __init__(self, field: str, reason: str) -> None:
        """Name the field and the reason."""
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class BrokerUnavailableError(ConnectionError):
    """The broker stayed unreachable for longer than the publisher was told to retry.

    Attributes:
        host: broker host.
        port: broker port.
        seconds: how long it was retried.
        last_error: the last connection error, in words.
    """

    def __init__(self, host: str, port: int, seconds: float, last_error: str) -> None:
        """Describe the broker and the last error."""
        super().__init__(
            f"MQTT broker {host}:{port} unreachable for {seconds:.0f} s, gave up "
            f"(last error: {last_error})"
        )
        self.host = host
        self.port = port
        self.seconds = seconds
        self.last_error = last_error
