"""Settings, read from the environment (django-environ) with safe development defaults.

With nothing configured the service runs on SQLite, a local-memory cache and
eager Celery. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL, Redis
and real Celery workers.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Only a DEBUG process may run on the well-known development key.
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "ecard.apps.EcardConfig",
    "codes",  # label "tokens" (codes/apps.py)
]

MIDDLEWARE = [
    "plumbing.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}


def database_pool(database: dict, size: int) -> None:
    """PostgreSQL connections from a pool of ``size`` per process (psycopg_pool, Django's own
    ``pool`` option), instead of one kept per thread: a gunicorn worker's threads share it."""
    if size and database["ENGINE"].endswith("postgresql"):
        # A request waits this long for a connection, not ten seconds behind a dead database.
        timeout = env.float("DATABASE_POOL_TIMEOUT", default=2.0)
        # psycopg_pool retries a lost connection with a doubling delay (1, 2, 4, 8, 16 s …):
        # after a 20 s outage its next try may be 16 s after the database is back. Giving up
        # after a few seconds instead lets the next request that needs a connection try at once.
        reconnect = env.float("DATABASE_POOL_RECONNECT_SECONDS", default=3.0)
        database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": size,
            "timeout": timeout,
            "reconnect_timeout": reconnect,
        }
        database["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not as well


DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A database that does not answer is refused in seconds (libpq's default waits for ever).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=2)
    )
database_pool(DATABASES["default"], env.int("DATABASE_POOL_SIZE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def redis_cache(url: str) -> dict:
    """The cache on a plain Redis, or on a Redis Cluster for a ``redis+cluster://`` URL."""
    location: str | list[str]
    if url.startswith("redis+cluster://"):
        backend, location = "plumbing.rediscluster.RedisClusterCache", [url]
    else:
        backend, location = "django.core.cache.backends.redis.RedisCache", url
    return {
        "BACKEND": backend,
        "LOCATION": location,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="ecard"),
    }


# REDIS_URL: the Celery broker, and by default the cache and the verify path's store. On a
# Redis Cluster, CACHE_URL and QR_STORE_URL name it; the broker stays on a plain Redis.
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
if CACHE_URL:
    CACHES = {"default": redis_cache(CACHE_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
# Staff sign in to the admin by username; holders' app accounts by phone, found through its
# blind index (the phone itself is sealed).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "accounts.authentication.PhoneBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        # The phone too: an app account's username is opaque, its phone is what it is known by.
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ["username", "phone", "first_name", "last_name", "email"]},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Chinese first: every text is written in Chinese and translated through gettext
# (locale/en/LC_MESSAGES/django.po, compiled by `make install`).
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Uploaded files (card photos) when stored locally; never served by URL, read through the API.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES: dict[str, dict] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed, cache-busting names when collected for production; plain in development.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("STATIC_MANIFEST", default=False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Celery: eager in-process without Redis so `make run` works on a bare machine.
# An in-memory broker for eager tasks; named host, or kombu warns on every connection.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
if CELERY_BROKER_URL.startswith("redis+cluster://"):
    # kombu's Redis transport speaks to one server: the broker is a plain Redis (made highly
    # available with Sentinel, sentinel:// URLs), whatever holds the cache and the store.
    raise ImproperlyConfigured("CELERY_BROKER_URL (or REDIS_URL) cannot be a Redis Cluster")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
# A task is acknowledged when it ends, so a worker killed mid-job leaves it on the broker: a
# pool process killed under a live worker puts it back at once (reject on worker lost); a
# worker killed outright leaves it unacknowledged, and Redis hands it to another worker once
# the visibility timeout has passed (kombu's default is an hour: 10,186 notices missing until
# a rerun by hand). Every task must end well within the timeout, or a second worker starts
# it while the first still runs: the time limits below keep each task inside it (size
# NOTICE_CHUNK_SIZE so a chunk takes a fraction of them; bench/notices.py times one).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
CELERY_TASK_TIME_LIMIT = CELERY_VISIBILITY_TIMEOUT_SECONDS // 2
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Loaded into django-celery-beat's tables when beat starts; editable in the admin there.
CELERY_BEAT_SCHEDULE = {
    "scan-records-flush": {"task": "tokens.scan_records_flush", "schedule": 2.0},
    "scan-partitions": {"task": "tokens.scan_partitions_maintain", "schedule": crontab(hour=0, minute=20)},
    "expiry-notices": {"task": "ecard.expiry_notices", "schedule": crontab(hour=8, minute=0)},
    "loss-deadlines": {"task": "ecard.loss_deadlines", "schedule": crontab(minute="*/10")},
    "replacement-ready": {"task": "ecard.replacement_ready", "schedule": crontab(hour=9, minute=0)},
    "housekeeping": {"task": "ecard.housekeeping", "schedule": crontab(hour=3, minute=30)},
    # Just after midnight: a ward's guardian link ends on the 16th birthday.
    "guardian-links": {"task": "ecard.guardian_links", "schedule": crontab(hour=0, minute=5)},
    # From 60 days before the known holiday calendar ends, supervisors are told once.
    "calendar-check": {"task": "ecard.calendar_check", "schedule": crontab(hour=7, minute=0)},
    # Backstop for deliveries queued while the broker was away.
    "notices-deliver": {"task": "ecard.notices_deliver", "schedule": 60.0},
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["plumbing.api.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "plumbing.api.LenientNegotiation",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "plumbing.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {
        "secret_account": env.str("THROTTLE_SECRET_ACCOUNT", default="10/min"),
    },
    # Behind the load balancer: how many proxies' X-Forwarded-For entries to trust
    # (docs/operations.md). 0 trusts none: every client is the balancer's address.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=16 * 1024)
# Who may read /metrics: the bearer token if set, else these client networks.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# Sign-in failures (accounts/attempts.py): counted per window, successes never counted.
SIGNIN_WINDOW_SECONDS = env.int("SIGNIN_WINDOW_SECONDS", default=900)
SIGNIN_FAILURES_PER_ACCOUNT_ADDRESS = env.int("SIGNIN_FAILURES_PER_ACCOUNT_ADDRESS", default=5)
SIGNIN_FAILURES_PER_ACCOUNT = env.int("SIGNIN_FAILURES_PER_ACCOUNT", default=10)
SIGNIN_FAILURES_PER_ADDRESS = env.int("SIGNIN_FAILURES_PER_ADDRESS", default=100)
REGISTRATIONS_PER_ADDRESS = env.int("REGISTRATIONS_PER_ADDRESS", default=300)
SIGNIN_CHALLENGE_BITS = env.int("SIGNIN_CHALLENGE_BITS", default=18)
SIGNIN_CHALLENGE_SECONDS = env.int("SIGNIN_CHALLENGE_SECONDS", default=120)

SPECTACULAR_SETTINGS = {
    "TITLE": "ecard API",
    "DESCRIPTION": (
        "Electronic social security card (电子社保卡) backend. Errors share one shape: "
        '`{"code", "message", "message_en", "field"?}`: `message` in the request\'s language '
        "(Accept-Language; Chinese by default), `message_en` in English; assert on `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI and ReDoc from the installed drf-spectacular-sidecar: no CDN, which
    # government networks (政务外网) cannot reach.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI's validator badge would fetch an image from a public validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Two choice sets share the field name "state": name each after what it is.
    "ENUM_NAME_OVERRIDES": {
        "CardStateEnum": "ecard.models.CardState.values",
        "ApplicationStateEnum": "ecard.models.ApplicationState.values",
        "FamilyLinkStateEnum": "ecard.apis.family.SHOWN_STATES",
        "AgreementStateEnum": "ecard.models.AGREEMENT_STATES",
    },
}

# Client tokens (JWT, EdDSA). Keys are PEM files in AUTH_JWT_KEYS_DIR: the newest by name
# signs, every one verifies, so a key rotates by adding a file and removing the old one
# after AUTH_REFRESH_TTL.
AUTH_JWT_ISSUER = env.str("AUTH_JWT_ISSUER", default="ecard")
AUTH_JWT_KEYS_DIR = env.path("AUTH_JWT_KEYS_DIR", default=BASE_DIR / "var" / "auth-keys")
AUTH_JWT_GENERATE_KEYS = env.bool("AUTH_JWT_GENERATE_KEYS", default=True)
AUTH_ACCESS_TTL_SECONDS = env.int("AUTH_ACCESS_TTL_SECONDS", default=15 * 60)
AUTH_REFRESH_TTL_SECONDS = env.int("AUTH_REFRESH_TTL_SECONDS", default=30 * 24 * 3600)
# Longest holder authorisation while the card is lost.
AUTHORISATION_MAX_MINUTES = env.int("AUTHORISATION_MAX_MINUTES", default=24 * 60)

# With the request id (carried into Celery tasks): one JSON object a line for the log
# collector, or text for a person reading a terminal (the default under DEBUG, as at `make run`).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "plumbing.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": env.str("LOG_FORMAT", default="text" if DEBUG else "json"),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # A line per eager task at `make run` says nothing a person needs.
    "loggers": {"celery.app.trace": {"level": "WARNING"}} if DEBUG else {},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ---------------------------------------------------------------------------
# Card policy (docs/domain.md marks these "policy": they differ from city to city).
# ---------------------------------------------------------------------------
# Working days a temporary loss stays in force before it lapses unless formalised.
CARD_TEMPORARY_LOSS_WORKING_DAYS = env.int("CARD_TEMPORARY_LOSS_WORKING_DAYS", default=3)
# Working days from a replacement application until the new card can be collected.
CARD_REPLACEMENT_PICKUP_WORKING_DAYS = {
    "loss": env.int("CARD_PICKUP_DAYS_LOSS", default=15),
    "renewal": env.int("CARD_PICKUP_DAYS_RENEWAL", default=15),
    "damage": env.int("CARD_PICKUP_DAYS_DAMAGE", default=7),
    "data_change": env.int("CARD_PICKUP_DAYS_DATA_CHANGE", default=15),
}
# Working days an outlet keeps a made card for its holder once it is ready.
CARD_COLLECTION_WORKING_DAYS = env.int("CARD_COLLECTION_WORKING_DAYS", default=20)
CARD_VALIDITY_YEARS = env.int("CARD_VALIDITY_YEARS", default=10)
CARD_RENEWAL_WINDOW_DAYS = env.int("CARD_RENEWAL_WINDOW_DAYS", default=60)
# Whether an expired but undamaged card keeps working until it is replaced.
CARD_EXPIRED_USABLE = env.bool("CARD_EXPIRED_USABLE", default=True)
CARD_INITIAL_PIN = env.str("CARD_INITIAL_PIN", default="123456")
# 医保账户初始密码不能消费 (seed 002): a collected card on its initial PIN pays for nothing until
# the holder changes the PIN; identity, transit and culture are not held back.
CARD_INITIAL_PIN_CAN_PAY = env.bool("CARD_INITIAL_PIN_CAN_PAY", default=False)
CARD_PIN_MAX_FAILURES = env.int("CARD_PIN_MAX_FAILURES", default=6)
# The 12333 hotline checks who is calling by the card's PIN: a card still on its initial PIN
# (which anyone may know) is reported lost in the app or at an outlet instead.
CARD_HOTLINE_LOSS_NEEDS_CHANGED_PIN = env.bool("CARD_HOTLINE_LOSS_NEEDS_CHANGED_PIN", default=True)
# Notices and SMS: delivery channels, dotted paths to classes with send(notice) and
# send_text(phone=, text=) (an SMS gateway adapter implements both), and job chunking. In
# development the console channel prints them, one-time codes included.
NOTICE_CHANNELS = env.list(
    "NOTICE_CHANNELS",
    default=["ecard.notices.LoggingChannel", *(["ecard.notices.ConsoleChannel"] if DEBUG else [])],
)
NOTICE_CHUNK_SIZE = env.int("NOTICE_CHUNK_SIZE", default=10000)
# A delivery claimed this long ago and not marked is a dead deliverer's: taken over, resent.
NOTICE_CLAIM_STALE_SECONDS = env.int("NOTICE_CLAIM_STALE_SECONDS", default=300)
IDEMPOTENCY_KEEP_HOURS = env.int("IDEMPOTENCY_KEEP_HOURS", default=24)
IDEMPOTENCY_RECORD_MODEL = "accounts.IdempotencyRecord"
# Age under which a holder acts through a guardian.
HOLDER_GUARDIAN_AGE = env.int("HOLDER_GUARDIAN_AGE", default=16)
# 亲情账户: adults whose codes a holder may show, invitations still open included; and how long
# an invitation waits for the member's consent.
FAMILY_MAX_MEMBERS = env.int("FAMILY_MAX_MEMBERS", default=5)
# How long a provider's proposed transit agreement waits for the holder's confirmation.
AGREEMENT_PENDING_MINUTES = env.int("AGREEMENT_PENDING_MINUTES", default=30)
FAMILY_INVITATION_DAYS = env.int("FAMILY_INVITATION_DAYS", default=7)

# Binding an e-card: a one-time code by SMS to the phone on file, and a real-person check.
BINDING_CODE_SECONDS = env.int("BINDING_CODE_SECONDS", default=300)
BINDING_CODE_MAX_TRIES = env.int("BINDING_CODE_MAX_TRIES", default=5)
BINDING_CHALLENGES_PER_DAY = env.int("BINDING_CHALLENGES_PER_DAY", default=5)
# The real-person check provider's adapter (accounts.realperson). The development one accepts
# IDENTITY_DEV_TOKEN; the production settings refuse it.
IDENTITY_VERIFIER = env.str("IDENTITY_VERIFIER", default="accounts.realperson.DevelopmentVerifier")
IDENTITY_DEV_TOKEN = env.str("IDENTITY_DEV_TOKEN", default="dev-real-person-ok")
# The CJK TrueType font embedded in pick-up certificates (Debian: fonts-wqy-microhei).
CERTIFICATE_FONT = env.str("CERTIFICATE_FONT", default="/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
# How old a real-person check may be when it binds an e-card or lifts a loss.
IDENTITY_CHECK_MAX_AGE_SECONDS = env.int("IDENTITY_CHECK_MAX_AGE_SECONDS", default=300)

# ---------------------------------------------------------------------------
# Cryptography profile
# ---------------------------------------------------------------------------
# international: Ed25519 signing keys, AES-256-GCM and HMAC-SHA256 for personal data.
# national (商用密码, GB/T 39786): SM2 with SM3 signing keys, SM4-GCM and HMAC-SM3.
# It picks what new keys use; keys made earlier keep their algorithm and still verify.
CRYPTO_PROFILE = env.str("CRYPTO_PROFILE", default="international")
if CRYPTO_PROFILE not in ("international", "national"):
    raise ImproperlyConfigured("CRYPTO_PROFILE is international or national")
# Keys that seal names, ID numbers and phones at rest (plumbing/pii.py): files in this folder
# (<key id>.key and index.key), or the variables below (e.g. from a secret store).
PII_KEYS_DIR = env.path("PII_KEYS_DIR", default=BASE_DIR / "var" / "pii-keys")
PII_DATA_KEYS = env.str("PII_DATA_KEYS", default="")
PII_INDEX_KEY = env.str("PII_INDEX_KEY", default="")
PII_GENERATE_KEYS = env.bool("PII_GENERATE_KEYS", default=True)

# ---------------------------------------------------------------------------
# QR codes and scanners
# ---------------------------------------------------------------------------
# Private halves of the QR signing keys: PEM files named <kid>.pem in this folder, or the
# QR_SIGNING_PRIVATE_KEYS variable (kid:base64url-raw,…). Never in the database.
QR_SIGNING_KEYS_DIR = env.path("QR_SIGNING_KEYS_DIR", default=BASE_DIR / "var" / "qr-keys")
QR_SIGNING_PRIVATE_KEYS = env.str("QR_SIGNING_PRIVATE_KEYS", default="")
QR_SIGNING_GENERATE_KEYS = env.bool("QR_SIGNING_GENERATE_KEYS", default=True)
QR_KEY_PUBLISH_LEAD_SECONDS = env.int("QR_KEY_PUBLISH_LEAD_SECONDS", default=3600)
QR_KEYSET_CACHE_SECONDS = env.int("QR_KEYSET_CACHE_SECONDS", default=5)
QR_LIFETIMES = {
    "payment": env.int("QR_LIFETIME_PAYMENT", default=60),
    "transit": env.int("QR_LIFETIME_TRANSIT", default=60),
    "culture": env.int("QR_LIFETIME_CULTURE", default=120),
    "identity": env.int("QR_LIFETIME_IDENTITY", default=120),
}
# Device-signed codes: how long a phone's certificate lets it sign codes offline, and how many
# phones an e-card may have certified at once (a new one beyond that revokes the oldest).
DEVICE_CERT_HOURS = env.int("DEVICE_CERT_HOURS", default=24)
DEVICE_CERT_MAX_PER_ECARD = env.int("DEVICE_CERT_MAX_PER_ECARD", default=2)
QR_CLOCK_SKEW_SECONDS = env.int("QR_CLOCK_SKEW_SECONDS", default=15)
# How old an offline gate's revocation list may be, per purpose, before it refuses a code of
# that purpose (revocations.stale) and falls back to online: a gate degrades, never stops.
QR_REVOCATIONS_MAX_AGE = {
    "transit": env.int("QR_REVOCATIONS_MAX_AGE_TRANSIT", default=24 * 3600),
    "culture": env.int("QR_REVOCATIONS_MAX_AGE_CULTURE", default=24 * 3600),
    "identity": env.int("QR_REVOCATIONS_MAX_AGE_IDENTITY", default=3600),
}
# Single-use codes, card-state snapshots and the scan-record buffer: Redis when configured.
QR_STORE_URL = env.str("QR_STORE_URL", default=REDIS_URL)
QR_STORE_TIMEOUT_SECONDS = env.float("QR_STORE_TIMEOUT_SECONDS", default=0.5)
# /readyz fails unless the single-use store writes its AOF on every write (production).
QR_STORE_REQUIRE_DURABLE = env.bool("QR_STORE_REQUIRE_DURABLE", default=False)
# How long a web process may use its own copy of a card's state; changes evict it at once
# (Redis pub/sub), this only bounds a missed eviction.
QR_SNAPSHOT_LOCAL_SECONDS = env.float("QR_SNAPSHOT_LOCAL_SECONDS", default=2.0)
# How often each process reads the card changes committed lately (one small query), and how
# far back each read reaches again for transactions that committed after their row's time.
# A change that could not evict the shared snapshot (Redis down) holds within the first.
QR_SNAPSHOT_CHANGES_POLL_SECONDS = env.float("QR_SNAPSHOT_CHANGES_POLL_SECONDS", default=1.0)
QR_SNAPSHOT_CHANGES_OVERLAP_SECONDS = env.float("QR_SNAPSHOT_CHANGES_OVERLAP_SECONDS", default=15.0)
SCANNER_ASSERTION_MAX_SECONDS = 300
# /scanner-demo: a page that verifies a pasted or uploaded code as a demo device would.
SCANNER_DEMO = env.bool("SCANNER_DEMO", default=DEBUG)
SCANNER_STATE_CACHE_SECONDS = env.float("SCANNER_STATE_CACHE_SECONDS", default=2.0)
# While the database is unreachable, how long a process goes on with the device as read last.
SCANNER_STATE_STALE_SECONDS = env.float("SCANNER_STATE_STALE_SECONDS", default=600.0)
# After the verify path failed to reach the database, how long it answers from its caches
# before asking the database again (plumbing/outage.py).
DATABASE_RETRY_SECONDS = env.float("DATABASE_RETRY_SECONDS", default=1.0)
# A verification not answered within this many seconds of its arrival claims nothing: the
# scanner has given up (scanners wait at least this long) and the holder will scan again.
SCANNER_VERIFY_DEADLINE_SECONDS = env.float("SCANNER_VERIFY_DEADLINE_SECONDS", default=3.0)
SCAN_SESSION_SECONDS = env.int("SCAN_SESSION_SECONDS", default=120)
# Scan records on PostgreSQL: one partition a day, made this many days ahead; partitions older
# than the keep window are archived (gzip CSV, default storage, scan-archive/) and dropped.
SCAN_PARTITIONS_AHEAD_DAYS = env.int("SCAN_PARTITIONS_AHEAD_DAYS", default=7)
SCAN_RECORDS_KEEP_DAYS = env.int("SCAN_RECORDS_KEEP_DAYS", default=180)
