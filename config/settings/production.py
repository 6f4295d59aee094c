"""Production settings: DJANGO_SETTINGS_MODULE=config.settings.production.

Refuses to start without SECRET_KEY, DATABASE_URL, REDIS_URL and a signing-key source;
behind a TLS-terminating proxy that sets X-Forwarded-Proto.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Pooled by default in production: one pool per gunicorn worker, as large as its threads.
database_pool(DATABASES["default"], env.int("DATABASE_POOL_SIZE", default=4))  # noqa: F405
REDIS_URL = env.str("REDIS_URL")
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
CACHES = {"default": redis_cache(CACHE_URL)}  # noqa: F405
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = False
QR_STORE_URL = env.str("QR_STORE_URL", default=REDIS_URL)
QR_STORE_REQUIRE_DURABLE = env.bool("QR_STORE_REQUIRE_DURABLE", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Uploaded files (card photos): an S3-compatible bucket when one is named, else local files.
_BUCKET = env.str("STORAGE_BUCKET", default="")
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _BUCKET,
            "endpoint_url": env.str("STORAGE_ENDPOINT_URL", default="") or None,
            "access_key": env.str("STORAGE_ACCESS_KEY", default="") or None,
            "secret_key": env.str("STORAGE_SECRET_KEY", default="") or None,
            "region_name": env.str("STORAGE_REGION", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    if _BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# The admin's CSS and scripts, collected into the image, served by the web processes.
MIDDLEWARE = [*MIDDLEWARE]  # noqa: F405
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)

# Keys are provisioned, never made on the fly by a web process.
QR_SIGNING_GENERATE_KEYS = False
PII_GENERATE_KEYS = False
PII_KEYS_DIR = env.path("PII_KEYS_DIR", default="/run/secrets/ecard/pii-keys")
AUTH_JWT_GENERATE_KEYS = False
QR_SIGNING_PRIVATE_KEYS = env.str("QR_SIGNING_PRIVATE_KEYS", default="")
QR_SIGNING_KEYS_DIR = env.path("QR_SIGNING_KEYS_DIR", default="/run/secrets/ecard/qr-keys")
AUTH_JWT_KEYS_DIR = env.path("AUTH_JWT_KEYS_DIR", default="/run/secrets/ecard/auth-keys")
if not QR_SIGNING_PRIVATE_KEYS and not Path(QR_SIGNING_KEYS_DIR).is_dir():
    raise ImproperlyConfigured(
        "no QR signing key source: set QR_SIGNING_PRIVATE_KEYS or mount QR_SIGNING_KEYS_DIR "
        f"({QR_SIGNING_KEYS_DIR})"
    )
if not Path(AUTH_JWT_KEYS_DIR).is_dir():
    raise ImproperlyConfigured(f"no client-token key folder: mount AUTH_JWT_KEYS_DIR ({AUTH_JWT_KEYS_DIR})")
PII_DATA_KEYS = env.str("PII_DATA_KEYS", default="")
PII_INDEX_KEY = env.str("PII_INDEX_KEY", default="")
if not (PII_DATA_KEYS and PII_INDEX_KEY) and not Path(PII_KEYS_DIR).is_dir():
    raise ImproperlyConfigured(
        f"no personal-data keys: set PII_DATA_KEYS and PII_INDEX_KEY or mount PII_KEYS_DIR ({PII_KEYS_DIR})"
    )

# Development stand-ins would let anyone pass the real-person check, or print one-time codes.
if IDENTITY_VERIFIER == "accounts.realperson.DevelopmentVerifier":  # noqa: F405
    raise ImproperlyConfigured("IDENTITY_VERIFIER: set the real-person check provider's adapter")
_DEV_CHANNELS = {"ecard.notices.ConsoleChannel", "ecard.notices.OutboxChannel"}
if _DEV_CHANNELS & set(NOTICE_CHANNELS):  # noqa: F405
    raise ImproperlyConfigured("NOTICE_CHANNELS: the console and outbox channels are for development")

# HTTPS ends at the load balancer, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind that balancer, with no proxy trusted, every client would be the balancer's address and
# share one count of sign-in failures (accounts/attempts.py): refuse to start that way.
if REST_FRAMEWORK["NUM_PROXIES"] < 1:  # noqa: F405
    raise ImproperlyConfigured(
        "NUM_PROXIES: production runs behind the load balancer (X-Forwarded-Proto); set how many "
        "proxies write X-Forwarded-For (docs/operations.md)"
    )
SECURE_SSL_REDIRECT = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes speak plain HTTP inside
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
