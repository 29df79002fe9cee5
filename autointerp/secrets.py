"""Redaction of secrets that can hide inside identifiers (URLs) before they are written anywhere.

A backend URL may carry credentials (``http://user:secret@host/v1``) or a key in its query string
(``?api_key=...``). Everything autointerp writes (config.yaml, run.json, records, reports, summaries,
cache keys, log lines) goes through :func:`redact_url` / :func:`redact_text` first.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# query parameters whose values are credentials
_SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "api-key", "token", "access_token", "secret", "password", "sig"}
)

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
    """Free text (an error message, a log line) with the userinfo of every URL in it redacted."""
    if not isinstance(text, str) or "://" not in text:
        return text

    def _sub(m: re.Match[str]) -> str:
        userinfo = m.group("userinfo")
        kept = f"{userinfo.split(':', 1)[0]}:{REDACTED}" if ":" in userinfo else REDACTED
        return f"{m.group('scheme')}{kept}@"

    return _USERINFO.sub(_sub, text)


def redact_tree(value: object) -> object:
    """A JSON-like value (dicts, lists, strings) with every URL-looking string redacted."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v) for v in value]
    return value
