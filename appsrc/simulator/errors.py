"""Google API error bodies, byte-for-byte in the shape googleapiclient's HttpError parses."""

from __future__ import annotations

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

# What Gmail says for a status when nothing more specific applies (used by forced faults).
_DEFAULTS = {
    400: ("Bad Request", "badRequest"),
    401: ("Request had invalid authentication credentials.", "authError"),
    403: ("The caller does not have permission", "forbidden"),
    404: ("Requested entity was not found.", "notFound"),
    429: ("Resource has been exhausted (e.g. check quota).", "rateLimitExceeded"),
    500: ("Internal error encountered.", "backendError"),
    503: ("The service is currently unavailable.", "backendError"),
}

UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class ApiError(Exception):
    """A Gmail error answer: `{"error": {code, message, errors: [...], status}}`."""

    def __init__(
        self, status: int, message: str, reason: str, *, domain: str = "global", status_name: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.domain = domain
        self.status_name = status_name or _STATUS_NAMES.get(status, "UNKNOWN")

    def body(self) -> dict:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
                "status": self.status_name,
            }
        }


def for_status(status: int, reason: str | None = None) -> ApiError:
    message, default_reason = _DEFAULTS.get(status, ("Simulated failure.", "simulatedFailure"))
    reason = reason or default_reason
    domain = "usageLimits" if "RateLimit" in reason or "rateLimit" in reason else "global"
    return ApiError(status, message, reason, domain=domain)


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", "notFound")


def invalid(message: str) -> ApiError:
    return ApiError(400, message, "invalidArgument")


def failed_precondition(message: str) -> ApiError:
    return ApiError(400, message, "failedPrecondition", status_name="FAILED_PRECONDITION")


def unauthenticated() -> ApiError:
    return ApiError(401, UNAUTHENTICATED_MESSAGE, "authError")
