"""A WSGI front door for the one endpoint too hot for Django's request machinery.

Scanners post ``/api/v1/scanner/verify`` thousands of times a second. For that request
Django's handler and middleware (request and response objects, URL resolving, sessions,
CSRF, authentication, messages, locale) cost about as much CPU as the verification
itself, and none of it does anything for a scanner: no cookie, no session, no user.

``FastPath`` answers such a route itself only in the plain case — POST, JSON of a known
length, no query string, no cookie, an allowed host, no HTTPS redirect due — and only
when the route's handler says so. Everything else goes to Django untouched, and a handler
that meets anything but the plain case raises ``Defer`` before it changed anything: the
body is handed back and Django answers from the start. So every refusal, redirect and
error keeps Django's own shape and language, and the plain answer carries what the
middleware would have added (request id, security headers, Content-Language, metrics,
the request signals that recycle database connections). tests/plumbing/test_fastpath.py holds the
two paths to the same answers, header for header.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.http.request import split_domain_port, validate_host
from django.utils import translation
from django.utils.module_loading import import_string

from . import observability

# What the front door does instead of each middleware of settings.MIDDLEWARE, for the requests
# it answers itself. A middleware added, removed or moved changes what a scanner's answer would
# have had: tests/plumbing/test_fastpath.py fails until this list (and the code) is reviewed.
STANDS_IN_FOR = {
    "plumbing.observability.RequestIdMiddleware": "request_id_for; the X-Request-ID header; metrics",
    "django.middleware.security.SecurityMiddleware": "its headers (_Settings), HSTS, the https redirect",
    "whitenoise.middleware.WhiteNoiseMiddleware": "nothing: static files only (production)",
    "django.contrib.sessions.middleware.SessionMiddleware": "nothing: a request with a cookie goes to Django",
    "django.middleware.locale.LocaleMiddleware": "_language from Accept-Language; Content-Language",
    "django.middleware.common.CommonMiddleware": "nothing: the route is exact, no slash to append",
    "django.middleware.csrf.CsrfViewMiddleware": "nothing: no cookie, so no session to forge",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "nothing: the handler checks the token",
    "django.contrib.messages.middleware.MessageMiddleware": "nothing: no cookie, no messages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "X-Frame-Options (_Settings)",
}


class Defer(Exception):
    """The handler does not answer this request itself: Django will, from the start."""


class FastRequest:
    """What a handler gets: the WSGI environ as ``META`` (so helpers written for a Django
    request's headers work on it) and the body."""

    __slots__ = ("META", "body")

    def __init__(self, environ: dict[str, Any], body: bytes):
        self.META = environ
        self.body = body


Handler = Callable[[FastRequest], tuple[int, dict]]
WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


class _Settings:
    """What the checks and headers need from settings, read once (and again after a test
    changes a setting): settings lookups cost on every request otherwise."""

    def __init__(self) -> None:
        self.max_body = settings.API_MAX_BODY_BYTES
        self.ssl_redirect = settings.SECURE_SSL_REDIRECT
        self.proxy_ssl = settings.SECURE_PROXY_SSL_HEADER
        self.forwarded_host = settings.USE_X_FORWARDED_HOST
        hosts = settings.ALLOWED_HOSTS
        self.allowed_hosts = hosts or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        # The headers SecurityMiddleware and XFrameOptionsMiddleware add to every response.
        self.headers = []
        if settings.X_FRAME_OPTIONS:
            self.headers.append(("X-Frame-Options", settings.X_FRAME_OPTIONS.upper()))
        self.headers.append(("Vary", "Accept-Language"))
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            self.headers.append(("X-Content-Type-Options", "nosniff"))
        if settings.SECURE_REFERRER_POLICY:
            policy = settings.SECURE_REFERRER_POLICY
            if not isinstance(policy, str):
                policy = ",".join(policy)
            self.headers.append(("Referrer-Policy", policy))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            self.headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
        self.hsts = None
        if settings.SECURE_HSTS_SECONDS:
            self.hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                self.hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                self.hsts += "; preload"
        self.hosts: dict[str, bool] = {}
        self.languages: dict[str, str] = {}


class FastPath:
    """``FastPath(django_application, {"/api/v1/…": "app.module.handler"})``: a WSGI
    application. Handlers are imported on first use, as Django imports views: after every
    app is loaded."""

    def __init__(self, app: WSGIApp, routes: dict[str, str | Handler]) -> None:
        self.app = app
        self.routes = routes
        self._settings: _Settings | None = None
        setting_changed.connect(self._forget_settings, weak=False)

    def _forget_settings(self, **kwargs: Any) -> None:
        self._settings = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = self.routes.get(environ.get("PATH_INFO", ""))
        if handler is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        if isinstance(handler, str):
            handler = self.routes[environ["PATH_INFO"]] = import_string(handler)
        config = self._settings or self._load_settings()
        length = self._plain_length(environ, config)
        if length is None:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        rid = observability.request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        signals.request_started.send(sender=FastPath, environ=environ)
        try:
            status, payload = handler(FastRequest(environ, body))
        except Defer:
            # The body was read from the socket: Django reads it again from here.
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["HTTP_X_REQUEST_ID"] = rid  # one id for the request's log lines
            return self.app(environ, start_response)
        except Exception as exc:  # Django's own answer and log line for a failure
            return self._failure(environ, body, exc, start_response, config, rid)
        content = json.dumps(payload).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(content))),
            *self._middleware_headers(environ, config, rid),
        ]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        observability.http_request_counted("POST", status)
        return _Answer(content)

    def _middleware_headers(
        self, environ: dict[str, Any], config: _Settings, rid: str
    ) -> list[tuple[str, str]]:
        """What Django's middleware adds to an answer: the language, the security headers,
        the request id."""
        headers = [("Content-Language", self._language(environ, config)), *config.headers]
        if config.hsts and self._secure(environ, config):
            headers.append(("Strict-Transport-Security", config.hsts))
        headers.append(("X-Request-ID", rid))
        return headers

    def _load_settings(self) -> _Settings:
        self._settings = _Settings()
        return self._settings

    def _plain_length(self, environ: dict[str, Any], config: _Settings) -> int | None:
        """The body's length when the request is the plain case; None to leave it to Django."""
        if environ.get("QUERY_STRING") or "HTTP_COOKIE" in environ:
            return None
        if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None  # chunked, or no length: Django reads it as it can
        if not 0 < length <= config.max_body:
            return None
        if not self._host_allowed(environ, config):
            return None  # Django answers 400 and logs the disallowed host
        if config.ssl_redirect and not self._secure(environ, config):
            return None  # SecurityMiddleware redirects to https
        return length

    def _host_allowed(self, environ: dict[str, Any], config: _Settings) -> bool:
        if config.forwarded_host and "HTTP_X_FORWARDED_HOST" in environ:
            return False
        host = environ.get("HTTP_HOST", "")
        allowed = config.hosts.get(host)
        if allowed is None:
            domain, _ = split_domain_port(host)
            allowed = bool(domain) and validate_host(domain, config.allowed_hosts)
            if len(config.hosts) < 256:  # a client inventing hosts must not grow it
                config.hosts[host] = allowed
        return allowed

    @staticmethod
    def _secure(environ: dict[str, Any], config: _Settings) -> bool:
        if config.proxy_ssl:
            header, secure_value = config.proxy_ssl
            value = environ.get(header)
            if value is not None:
                return bool(value.split(",", 1)[0].strip() == secure_value)
        return bool(environ.get("wsgi.url_scheme") == "https")

    @staticmethod
    def _language(environ: dict[str, Any], config: _Settings) -> str:
        """What LocaleMiddleware would pick from Accept-Language (a request with a cookie
        never gets here)."""
        accept = environ.get("HTTP_ACCEPT_LANGUAGE", "")
        language = config.languages.get(accept)
        if language is None:
            language = translation.get_language_from_request(_LanguageRequest(environ))  # type: ignore[arg-type]  # what it reads
            if len(config.languages) < 256:
                config.languages[accept] = language
        return language

    def _failure(
        self,
        environ: dict[str, Any],
        body: bytes,
        exc: Exception,
        start_response: Callable[..., Any],
        config: _Settings,
        rid: str,
    ) -> Iterable[bytes]:
        environ["wsgi.input"] = io.BytesIO(body)
        request = WSGIRequest(environ)
        with translation.override(self._language(environ, config)):
            response = response_for_exception(request, exc)
        for name, value in self._middleware_headers(environ, config, rid):
            response.headers.setdefault(name, value)
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(status, [*response.items()])
        observability.http_request_counted("POST", response.status_code)
        return _Answer(response.content)


class _LanguageRequest:
    """Enough of a request for ``get_language_from_request``: no cookies, the environ."""

    COOKIES: dict = {}
    path_info = ""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.META = environ


class _Answer(list):
    """The body; closing it ends the request as Django's response does (the server calls
    ``close`` once the body is sent), which recycles database connections past their age."""

    def __init__(self, content: bytes):
        super().__init__((content,))

    def close(self) -> None:
        signals.request_finished.send(sender=FastPath)
