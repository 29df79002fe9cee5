"""Redaction of secrets that can hide inside identifiers (URLs) before they are written anywhere.

A backend URL may carry credentials (``http://user:secret@host/v1``) or a key in its query string
(``?api_key=...``). Everything autointerp writes (config.yaml, run.json, records, reports, summaries,
cache keys, log lines) goes through :func:`redact_url` / :func:`redact_text` first. Log records of every library
(httpx, httpcore, openai, anthropic print request URLs at ``-v`` / ``-vv``) pass :class:`RedactingFilter`, which the
CLI attaches to every handler it configures; it also hides the API keys read from the environment
(:func:`register_secret`).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# query parameters whose values are credentials
_SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "api-key", "token", "access_token", "secret", "password", "sig"}
)

# ?key=... / &api_key=... inside free text
_SECRET_NAMES = "|".join(map(re.escape, sorted(_SECRET_PARAMS)))
_QUERY_SECRET = re.compile(rf"(?P<lead>[?&](?:{_SECRET_NAMES})=)[^&\s'\"#]+", re.IGNORECASE)

# values known to be secret in this process (API keys read from the environment)
_KNOWN: set[str] = set()
MIN_SECRET_LENGTH = 8  # shorter values are too likely to occur in ordinary text to be replaced


def register_secret(value: str | None) -> None:
    """Hide ``value`` (an API key) wherever :func:`redact_text` looks, log lines included."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _KNOWN.add(value)


# scheme://user:password@ or scheme://token@ inside free text
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s@'\"]+)@")


def redact_url(url: str) -> str:
    """``url`` with any password (or lone user token) and credential query values replaced by ``***``.

    The host, port, path and other query parameters are kept so the URL still identifies the endpoint.
    Strings that are not URLs are returned unchanged.
    """
    if not isinstance(url, str) or "://" not in url:
        return url
    if any(c.isspace() for c in url.strip()) or not re.match(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*://", url):
        return redact_text(url)  # free text that merely contains a URL
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, hostport = netloc.rsplit("@", 1)
            if ":" in userinfo:
                user = userinfo.split(":", 1)[0]
                netloc = f"{user}:{REDACTED}@{hostport}"
            else:  # a lone token in the user field is a credential too
                netloc = f"{REDACTED}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
                query = urlencode([(k, REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # malformed (e.g. bad port): redact the userinfo textually
        return redact_text(url)


def redact_text(text: str) -> str:
    """Free text (an error message, a log line) with the userinfo and credential query values of every URL in it,
    and every registered secret, redacted."""
    if not isinstance(text, str):
        return text
    for value in _KNOWN:
        if value in text:
            text = text.replace(value, REDACTED)
    if "://" not in text and "=" not in text:
        return text

    def _sub(m: re.Match[str]) -> str:
        userinfo = m.group("userinfo")
        kept = f"{userinfo.split(':', 1)[0]}:{REDACTED}" if ":" in userinfo else REDACTED
        return f"{m.group('scheme')}{kept}@"

    return _QUERY_SECRET.sub(lambda m: m.group("lead") + REDACTED, _USERINFO.sub(_sub, text))


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message (arguments merged), exception and stack text, redacted.

    Attached to a *handler*, it sees the records of every logger that reaches it (httpx, openai, ...)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def redact_logging(logger: logging.Logger | None = None) -> None:
    """Attach a :class:`RedactingFilter` to every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def redact_tree(value: object) -> object:
    """A JSON-like value (dicts, lists, strings) with every URL-looking string redacted."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v) for v in value]
    return value
