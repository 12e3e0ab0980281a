"""Errors of notifications; each carries what the user needs to fix it."""


class DestinationRefusedError(ValueError):
    """A webhook URL the service will not send to.

    Attributes:
        url: the URL refused.
        reason: why, in a sentence.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"webhook URL {url[:200]!r} refused: {reason}")


class UnknownEndpointError(LookupError):
    """No endpoint with this id belongs to the lender.

    Attributes:
        endpoint_id: the id asked for.
    """

    def __init__(self, endpoint_id: str) -> None:
        self.endpoint_id = endpoint_id
        super().__init__(f"no webhook endpoint with id {endpoint_id[:64]!r}")


class WebhookKeyError(RuntimeError):
    """The key that seals webhook secrets in the database is missing or not the one they
    were sealed with; the service does not start without it.

    Attributes:
        reason: what is wrong and what to do.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook secrets: {reason}")
