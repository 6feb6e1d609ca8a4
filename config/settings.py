"""Django settings for the marketplace API.

Everything deployment-specific is read from the environment here, once. See the
README's "Configuration" table for every variable and its default.
"""

from __future__ import annotations

import os
import tempfile
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off: set SECRET_KEY to a long random "
            "string (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "strawberry_django",
    "corsheaders",
    "marketplace.apps.MarketplaceConfig",
    "tracking.apps.TrackingConfig",
    "graph.apps.GraphConfig",
]

MIDDLEWARE = [  # Django's own, made async-native (no thread hop per hook under ASGI): config.middleware
    "corsheaders.middleware.CorsMiddleware",  # first: preflights and refusals get CORS headers too
    "config.middleware.RequestSizeLimitMiddleware",
    "config.middleware.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",  # /static/ under ASGI: the admin's styles
    "config.middleware.SessionMiddleware",
    "config.middleware.CommonMiddleware",
    "config.middleware.CsrfViewMiddleware",
    "config.middleware.AuthenticationMiddleware",
    "config.auth.BearerTokenMiddleware",
    "config.middleware.MessageMiddleware",  # the admin's; skipped on /graphql/
    "config.middleware.XFrameOptionsMiddleware",
]
# `check --deploy` looks for Django's own class paths; the subclasses above are those classes.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "graph" / "templates"],
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


DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2, minimum=0)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10, minimum=1)
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 10.0, minimum=0.1)
if DB_POOL_MIN_SIZE > DB_POOL_MAX_SIZE:
    raise ImproperlyConfigured(
        f"DB_POOL_MIN_SIZE={DB_POOL_MIN_SIZE} is larger than DB_POOL_MAX_SIZE={DB_POOL_MAX_SIZE}."
    )


def _database_from_env() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        url = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} is not a valid database URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Several writers (requests, tracking workers, the backfill) share one file:
        # WAL lets readers run beside a writer, IMMEDIATE takes the write lock at BEGIN
        # so two writers queue on the busy timeout instead of failing with
        # "database is locked" halfway through a transaction.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        # A file, not :memory:, so that threads and live servers in tests see one
        # database; one per test process, so that parallel runs never share it.
        config["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"marketplace_test_{os.getpid()}.sqlite3")}
    elif config["ENGINE"] in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
        config["ENGINE"] = "django.db.backends.postgresql"
        # A bounded pool (psycopg 3, Django's built-in pool): at most DB_POOL_MAX_SIZE
        # connections per process, whatever the concurrency; a request beyond it waits up
        # to DB_POOL_TIMEOUT seconds for one. Without it every request thread opened its
        # own connection, until PostgreSQL refused them all. Django returns a connection to
        # the pool when it "closes" it at the end of each request, so persistent
        # connections (CONN_MAX_AGE) must be off: the pool is what keeps them.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "pool": {
                "min_size": DB_POOL_MIN_SIZE,
                "max_size": DB_POOL_MAX_SIZE,
                "timeout": DB_POOL_TIMEOUT,
            }
        }
        # One test database per test process, so that parallel runs never share it.
        config["TEST"] = {"NAME": f"test_{config['NAME']}_{os.getpid()}"}
    else:
        raise ImproperlyConfigured(f"DATABASE_URL uses {config['ENGINE']!r}; supported are sqlite:// and postgres://.")
    return config


DATABASES = {"default": _database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")  # filled by collectstatic (make run)
# ServeStatic serves STATIC_URL under ASGI (uvicorn has no static files of its own). With
# DEBUG it also finds files in the apps and picks up changes without collectstatic.
SERVESTATIC_USE_FINDERS = env_bool("SERVESTATIC_USE_FINDERS", DEBUG)
SERVESTATIC_AUTOREFRESH = DEBUG
# GraphiQL's browser scripts (npm ci); without them /graphql/ says how to enable GraphiQL.
GRAPHIQL_ASSETS_DIR = Path(env_str("GRAPHIQL_ASSETS_DIR") or BASE_DIR / "node_modules")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler would print each record a second time next to the root one.
        "django": {"level": "INFO", "handlers": []},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- GraphQL and request limits ------------------------------------------------
# The garbage collector's young-generation threshold in a server process (config.garbage);
# 0 keeps Python's own (700).
GC_GEN0_THRESHOLD = env_int("GC_GEN0_THRESHOLD", 50_000, minimum=0)
GRAPHQL_MAX_PAGE_SIZE = env_int("GRAPHQL_MAX_PAGE_SIZE", 100, minimum=1)
GRAPHQL_MAX_DEPTH = env_int("GRAPHQL_MAX_DEPTH", 10, minimum=1)
GRAPHQL_MAX_TOKENS = env_int("GRAPHQL_MAX_TOKENS", 800, minimum=10)
GRAPHQL_MAX_ALIASES = env_int("GRAPHQL_MAX_ALIASES", 30, minimum=0)
GRAPHQL_MAX_COST = env_int("GRAPHQL_MAX_COST", 50_000, minimum=1)
GRAPHQL_MAX_EXPENSIVE_FIELDS = env_int("GRAPHQL_MAX_EXPENSIVE_FIELDS", 5, minimum=0)
GRAPHQL_INTROSPECTION = env_bool("GRAPHQL_INTROSPECTION", True)
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", 1_000_000, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES  # also bounds bodies sent without Content-Length

# --- Browser clients on other origins (CORS), persisted queries, GET caching ----
# Origins a storefront is served from, e.g. "https://shop.example.com,http://localhost:3000".
# None by default: a browser page on another origin cannot read the API's answers.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
# Cookies (the session) across origins only when asked for: bearer tokens need no credentials mode.
CORS_ALLOW_CREDENTIALS = env_bool("CORS_ALLOW_CREDENTIALS", False)
CORS_URLS_REGEX = r"^/graphql/$"  # the API only; the admin and operator endpoints stay same-origin
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-csrftoken",
    "x-requested-with",
    "apollographql-client-name",  # Apollo Client's client awareness headers
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
)
CORS_PREFLIGHT_MAX_AGE = env_int("CORS_PREFLIGHT_MAX_AGE", 86400, minimum=0)
# Automatic persisted queries: how long a registered document stays in the cache (seconds).
GRAPHQL_APQ_TIMEOUT = env_int("GRAPHQL_APQ_TIMEOUT", 86400, minimum=1)
# Cache-Control max-age of anonymous GET queries; 0 means "no-store" (nothing shared caches it).
GRAPHQL_GET_MAX_AGE = env_int("GRAPHQL_GET_MAX_AGE", 0, minimum=0)

# --- Rate limits (per minute; 0 turns one off) ---------------------------------
TRACKING_RATE_LIMIT = env_int("TRACKING_RATE_LIMIT", 120, minimum=0)
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 10, minimum=0)  # per username and address
LOGIN_ADDRESS_RATE_LIMIT = env_int("LOGIN_ADDRESS_RATE_LIMIT", 30, minimum=0)  # per address, any username
REGISTER_RATE_LIMIT = env_int("REGISTER_RATE_LIMIT", 10, minimum=0)  # per address
# Counters per limit and minute kept in memory (marketplace.ratelimit); past it the lightest
# key is replaced, never a heavy one, so flooding cannot reset a counter.
RATE_LIMIT_KEYS = env_int("RATE_LIMIT_KEYS", 100_000, minimum=10)

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "marketplace"}}

# --- Tracking ----------------------------------------------------------------
TRACKING_QUEUE_SIZE = env_int("TRACKING_QUEUE_SIZE", 10_000, minimum=1)
TRACKING_WORKERS = env_int("TRACKING_WORKERS", 2, minimum=1)
TRACKING_BATCH_SIZE = env_int("TRACKING_BATCH_SIZE", 500, minimum=1)
TRACKING_BATCH_INTERVAL = env_float("TRACKING_BATCH_INTERVAL", 0.2, minimum=0.001)
TRACKING_SHUTDOWN_TIMEOUT = env_float("TRACKING_SHUTDOWN_TIMEOUT", 10.0, minimum=0)
TRACKING_MAX_RETRIES = env_int("TRACKING_MAX_RETRIES", 3, minimum=0)
TRACKING_ACTIVE_CACHE_SECONDS = env_float("TRACKING_ACTIVE_CACHE_SECONDS", 5.0, minimum=0)
# Celery backend: how long a published batch may stay unapplied before it is published
# again, how often the web process checks, and how many events it keeps for that.
TRACKING_CONFIRM_AFTER = env_float("TRACKING_CONFIRM_AFTER", 15.0, minimum=0.1)
TRACKING_CONFIRM_INTERVAL = env_float("TRACKING_CONFIRM_INTERVAL", 1.0, minimum=0.05)
TRACKING_UNCONFIRMED_LIMIT = env_int("TRACKING_UNCONFIRMED_LIMIT", 100_000, minimum=1)
METRICS_BATCH_SIZE = env_int("METRICS_BATCH_SIZE", 1000, minimum=1)
# Each server process publishes its tracking statistics to the database every
# TRACKING_STATS_INTERVAL seconds (0: never) for trackingStatus to sum over the deployment;
# a process silent for TRACKING_STATS_STALE_AFTER seconds is left out (it died).
TRACKING_STATS_INTERVAL = env_float("TRACKING_STATS_INTERVAL", 5.0, minimum=0)
TRACKING_STATS_STALE_AFTER = env_float("TRACKING_STATS_STALE_AFTER", 30.0, minimum=0.1)

# Metrics over time: hourly buckets kept METRICS_HOURLY_RETENTION_DAYS, daily ones forever;
# a day starts at midnight in METRICS_TIME_ZONE. TRENDING weighs engagement with a half-life.
METRICS_TIME_ZONE = env_str("METRICS_TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(METRICS_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"METRICS_TIME_ZONE={METRICS_TIME_ZONE!r} is not a known time zone.") from exc
METRICS_HOURLY_RETENTION_DAYS = env_int("METRICS_HOURLY_RETENTION_DAYS", 90, minimum=1)
TRENDING_HALF_LIFE_HOURS = env_float("TRENDING_HALF_LIFE_HOURS", 24.0, minimum=0.01)

# Where flushed batches go: applied in this process ("inprocess"), or sent as one
# Celery task each through Redis ("celery") for workers on other machines.
TRACKING_BACKEND = env_str("TRACKING_BACKEND", "inprocess")
if TRACKING_BACKEND not in ("inprocess", "celery"):
    raise ImproperlyConfigured(f"TRACKING_BACKEND={TRACKING_BACKEND!r}: use inprocess or celery.")
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5, "visibility_timeout": 300}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Live metrics (graph.subscriptions): one message per applied batch reaches every web process
# through a channel layer. In memory when one process serves everything; Redis as soon as
# REDIS_URL is set explicitly or a Celery worker applies the batches (another process).
LIVE_CHANNEL_LAYER = env_str(
    "LIVE_CHANNEL_LAYER",
    "redis" if ("REDIS_URL" in os.environ or TRACKING_BACKEND == "celery") else "memory",
)
if LIVE_CHANNEL_LAYER not in ("memory", "redis"):
    raise ImproperlyConfigured(f"LIVE_CHANNEL_LAYER={LIVE_CHANNEL_LAYER!r}: use memory or redis.")
CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000}}
        if LIVE_CHANNEL_LAYER == "redis"
        else {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    )
}
SUBSCRIPTIONS_PER_CONNECTION = env_int("SUBSCRIPTIONS_PER_CONNECTION", 10, minimum=1)
WEBSOCKET_CONNECTIONS_PER_VISITOR = env_int("WEBSOCKET_CONNECTIONS_PER_VISITOR", 20, minimum=1)  # per process
LIVE_PUBLISH_TIMEOUT = env_float("LIVE_PUBLISH_TIMEOUT", 2.0, minimum=0.05)  # seconds per publish, then dropped
WEBSOCKET_INIT_TIMEOUT = env_float("WEBSOCKET_INIT_TIMEOUT", 10.0, minimum=0.1)  # seconds until connection_init
