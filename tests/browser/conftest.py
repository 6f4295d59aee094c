"""The browser the page tests drive: Debian's Chromium through Playwright for Python (never
`playwright install`), and a context that refuses any request leaving 127.0.0.1."""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

import pytest

from tests.support import CHROMIUM

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class InFlight:
    """The live server's app calls, counted, so that a test's end can wait for the last one: a
    page's request still running when the test database is flushed would write into the flush
    (a foreign key failing, a table emptied under it). On SQLite the calls also run one at a
    time: the live server's threads share the test database's one in-memory connection, and two
    pages asking at once (a presenter's and a member's) collide in it ("cannot open savepoint");
    PostgreSQL gives each thread a connection of its own."""

    def __init__(self, serial: bool):
        self.serial = threading.Lock() if serial else None
        self.count = 0
        self.changed = threading.Condition()

    def wrap(self, application):
        def counted(environ, start_response):
            with self.changed:
                self.count += 1
            try:
                if self.serial is None:
                    return application(environ, start_response)
                with self.serial:
                    return application(environ, start_response)
            finally:
                with self.changed:
                    self.count -= 1
                    self.changed.notify_all()

        return counted

    def wait_until_idle(self, seconds: float = 15) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.count == 0, timeout=seconds)


@pytest.fixture(scope="session", autouse=True)
def _in_flight():
    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.db import connection
    from django.test.testcases import LiveServerThread

    in_flight = InFlight(serial=connection.vendor == "sqlite")

    class Counted(ThreadedWSGIServer):
        def set_app(self, application):
            super().set_app(in_flight.wrap(application))

    threaded = LiveServerThread.server_class
    LiveServerThread.server_class = Counted
    yield in_flight
    LiveServerThread.server_class = threaded


@pytest.fixture(scope="session")
def chromium(django_db_setup):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread. Django then counts the thread as
    # async: its ORM calls need the escape hatch below, and asgiref hands this thread a fresh
    # set of connection objects, which lack what the test database setup stored on the old
    # ones (the serialized data that serialized_rollback restores): carry it over.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    serialized = {
        alias: connections[alias]._test_serialized_contents
        for alias in connections
        if hasattr(connections[alias], "_test_serialized_contents")
    }
    with sync_playwright() as playwright:
        for alias, contents in serialized.items():
            connections[alias]._test_serialized_contents = contents
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


class Watched:
    """A browser context whose every request is recorded; any not to 127.0.0.1 is refused."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(**options)
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        scheme = urlsplit(url).scheme
        if scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname not in LOCAL_HOSTS:
            self.outside.append(url)
            route.abort()
        else:
            route.continue_()

    def close(self):
        self.context.close()


@pytest.fixture
def browse(chromium, _in_flight):
    opened = []

    def open_(**options) -> Watched:
        watched = Watched(chromium, **options)
        opened.append(watched)
        return watched

    yield open_
    for watched in opened:
        watched.close()
    _in_flight.wait_until_idle()  # before the database is flushed under the last request
    for watched in opened:
        assert watched.outside == [], f"requests left 127.0.0.1: {watched.outside}"
        assert watched.errors == [], f"script errors: {watched.errors}"
