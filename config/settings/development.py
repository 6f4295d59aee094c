"""What `make run`, `make stack` and the tests use: the base settings as they stand, with their
development defaults (SQLite, a local-memory cache and eager Celery unless DATABASE_URL and
REDIS_URL say otherwise; keys made on first use; the development real-person check).

Everything lives in ``base`` so that production (``config.settings.production``) overrides a
known list and refuses to start without what it needs; nothing here may loosen a check that
production relies on base for."""

from .base import *  # noqa: F403
