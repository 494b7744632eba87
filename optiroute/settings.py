"""OptiRoute settings: every value comes from the environment (see .env.example)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_rate(name: str, default: str) -> str:
    """A rate like "600/minute" (per second, minute, hour or day), or empty for none."""
    raw = os.environ.get(name, default).strip()
    if raw and not re.fullmatch(r"\d+\s*/\s*(second|minute|hour|day)s?", raw.lower()):
        raise ImproperlyConfigured(f"{name} must read like '600/minute', got {raw!r}")
    return raw


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


OPTIROUTE_ENV = env_str("OPTIROUTE_ENV", "development")
if OPTIROUTE_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"OPTIROUTE_ENV must be development or production, got {OPTIROUTE_ENV!r}")
PRODUCTION = OPTIROUTE_ENV == "production"

SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY is required when OPTIROUTE_ENV=production")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is required when OPTIROUTE_ENV=production")
elif not SECRET_KEY:
    SECRET_KEY = "development-only-insecure-key"  # noqa: S105 - never used in production mode
DEBUG = env_bool("DEBUG", not PRODUCTION)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "template_partials",
    "registry",
    "routing",
    "feedback",
]

MIDDLEWARE = [
    "optiroute.logs.RequestIdMiddleware",  # outermost: every line logged for a request carries its id
    "optiroute.tracing.TracingMiddleware",
    "optiroute.api_errors.JsonErrorsMiddleware",  # it sees every other layer's errors
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "optiroute.urls"
WSGI_APPLICATION = "optiroute.wsgi.application"

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

DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    from optiroute.embedded import postgres_url

    DATABASE_URL = postgres_url()
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
if "host" in _db_options:  # unix-socket URLs (the embedded server) carry the host as a query
    DATABASES["default"]["HOST"] = _db_options.pop("host")
# An HNSW search returns at most ef_search rows: keep it above routing's k (50 neighbours).
# At 64 it finds 99.6% of the exact 50 nearest train prompts over both datasets of
# ../shared/data. A search scoped to some datasets (the evaluation's) is an iterative index
# scan with a wider first beam (registry.vector_search). Every search is an iterative scan
# (pgvector 0.8): rows the beam finds but the query may not return (deleted by a re-import, not
# yet vacuumed) never leave it short of k; it goes on past the beam only then.
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 64, 50)
_db_options["options"] = f"-c hnsw.ef_search={HNSW_EF_SEARCH} -c hnsw.iterative_scan=relaxed_order"

REDIS_URL = env_str("REDIS_URL")
if not REDIS_URL and not env_bool("OPTIROUTE_NO_BROKER", False):
    from optiroute.embedded import valkey_url

    REDIS_URL = valkey_url()
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-job leaves the message to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, 60)}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG  # serve app static files without collectstatic in development
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / ".data" / "media")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"  # everyone signs in here; staff reach the console and admin after
LOGIN_REDIRECT_URL = "/"

# Uploads: evaluation files are refused beyond this size, before anything is imported.
OPTIROUTE_MAX_UPLOAD_BYTES = env_int("OPTIROUTE_MAX_UPLOAD_MB", 200, 1) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Embedder for prompts and requests: "minilm-static" (a static table distilled from the
# packaged all-MiniLM-L6-v2, ~0.3 ms a prompt) or "minilm" (the transformer, ~20-50 ms).
OPTIROUTE_EMBEDDER = env_str("OPTIROUTE_EMBEDDER", "minilm-static")
OPTIROUTE_DATA_DIR = env_str("OPTIROUTE_DATA_DIR", str(BASE_DIR / ".data"))

# Dry-run routing decisions are stored by a background writer (batched); false: in the request.
OPTIROUTE_ASYNC_DECISION_WRITES = env_bool("OPTIROUTE_ASYNC_DECISION_WRITES", True)

# Inference: per-call timeout, retries on retryable errors, circuit breaker per model.
LLM_CALL_TIMEOUT_S = env_float("LLM_CALL_TIMEOUT_S", 30.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)
LLM_RETRY_BACKOFF_S = env_float("LLM_RETRY_BACKOFF_S", 0.25)
# Batches: a row claimed by a worker that has not answered it within this time (the worker died)
# is answered by another; longer than a row's calls with their retries and fallbacks can take.
OPTIROUTE_BATCH_CLAIM_TIMEOUT_S = env_int("OPTIROUTE_BATCH_CLAIM_TIMEOUT_S", 600, 1)
CIRCUIT_FAILURES = env_int("CIRCUIT_FAILURES", 5, 1)
CIRCUIT_WINDOW_S = env_int("CIRCUIT_WINDOW_S", 60, 1)
CIRCUIT_COOLDOWN_S = env_int("CIRCUIT_COOLDOWN_S", 30, 1)
# Observed latency: each model's last OPTIROUTE_OBSERVED_WINDOW calls within OPTIROUTE_OBSERVED_HOURS
# give its time to first token, p50/p95 and error rate; from OPTIROUTE_OBSERVED_MIN_CALLS answered
# calls on, routing's latency figure is the observed p50 instead of the declared one.
OPTIROUTE_OBSERVED_MIN_CALLS = env_int("OPTIROUTE_OBSERVED_MIN_CALLS", 20, 1)
OPTIROUTE_OBSERVED_WINDOW = env_int("OPTIROUTE_OBSERVED_WINDOW", 200, 1)
OPTIROUTE_OBSERVED_HOURS = env_int("OPTIROUTE_OBSERVED_HOURS", 24, 1)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "optiroute.api_errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["routing.access.limits.ApiKeyRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OptiRoute API",
    "DESCRIPTION": "Routes each LLM request to the model that best fits its user's preferences.",
    "VERSION": "0.1.0",
    # JSON Schema proper: the request bodies' rules need `contains` and `const`.
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "optiroute.schema.require_request_bodies"],
}

# Logs: JSON lines with the request and decision ids (optiroute.logs); LOG_FORMAT=text for people.
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "optiroute.logs.JsonFormatter"},
                   "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {name: {"level": "WARNING"}
                for name in ["httpx", "httpcore", "pgserver", "sentence_transformers", "transformers"]},
}

# Headers and cookies for every response; production adds what needs HTTPS (behind a proxy that
# terminates TLS and sets X-Forwarded-Proto).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Probes come over plain HTTP from inside the deployment: not redirected to HTTPS.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# Feedback's bounded influence: a rater's newest FEEDBACK_RATER_CAP ratings per model and task
# type count as evidence, for FEEDBACK_HORIZON_DAYS days after they were given.
FEEDBACK_RATER_CAP = env_int("FEEDBACK_RATER_CAP", 5, 1)
FEEDBACK_HORIZON_DAYS = env_int("FEEDBACK_HORIZON_DAYS", 90, 1)

# Exploration (routing.engine.exploration): the share of answered requests routed on a quality
# drawn from each model's estimate (Thompson sampling); never for these profiles, and for dry
# runs (POST /api/v1/route) only when EXPLORATION_DRY_RUN is true.
EXPLORATION_SHARE = env_float("EXPLORATION_SHARE", 0.0)  # off unless configured
if not 0.0 <= EXPLORATION_SHARE <= 0.5:
    raise ImproperlyConfigured(f"EXPLORATION_SHARE must be between 0 and 0.5, got {EXPLORATION_SHARE}")
EXPLORATION_OFF_PROFILES = env_list("EXPLORATION_OFF_PROFILES", ["quality-first"])
EXPLORATION_DRY_RUN = env_bool("EXPLORATION_DRY_RUN", False)

# Observability (optiroute.metrics, optiroute.health). Every process writes its series into one
# directory, which must be set before prometheus_client is imported: settings load first.
METRICS_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", str(Path(OPTIROUTE_DATA_DIR) / "metrics"))
Path(METRICS_DIR).mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR
# GET /metrics answers loopback callers, and others that send this token as a Bearer credential.
OPTIROUTE_METRICS_TOKEN = env_str("OPTIROUTE_METRICS_TOKEN")

# Rate limits (routing.access.limits) for keys and cohorts without their own, like "600/minute";
# empty: none. Over a limit, a call is answered 429 with Retry-After.
OPTIROUTE_RATE_LIMIT_DEFAULT = env_rate("OPTIROUTE_RATE_LIMIT_DEFAULT", "600/minute")
OPTIROUTE_TOKEN_LIMIT_DEFAULT = env_rate("OPTIROUTE_TOKEN_LIMIT_DEFAULT", "")

# Sign-in throttling (optiroute.signin): failed attempts allowed per account and address, and per
# address over all accounts, within the window; then refused until it ends.
SIGNIN_MAX_FAILURES = env_int("SIGNIN_MAX_FAILURES", 5, 1)
SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int("SIGNIN_MAX_FAILURES_PER_ADDRESS", 20, 1)
SIGNIN_WINDOW_S = env_int("SIGNIN_WINDOW_S", 900, 1)

# OpenTelemetry traces (optiroute.tracing): "off", "otlp" (OTEL_EXPORTER_OTLP_ENDPOINT etc.) or "console".
OPTIROUTE_TRACING = env_str("OPTIROUTE_TRACING", "off")
if OPTIROUTE_TRACING not in {"off", "otlp", "console"}:
    raise ImproperlyConfigured(f"OPTIROUTE_TRACING must be off, otlp or console, got {OPTIROUTE_TRACING!r}")
