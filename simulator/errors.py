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
