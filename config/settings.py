"""Lup settings. Every value comes from the environment; the README lists them.

With neither `DATABASE_URL` nor `REDIS_URL` set, Lup runs in its embedded default: SQLite and
generated development secrets in the data folder, Celery tasks executed in-process.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.conf.locale import LANG_INFO
from django.core.exceptions import ImproperlyConfigured

from core import embedded
from core.clientip import trusted_networks
from core.logconfig import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def env_secret(name: str) -> str:
    """`NAME`, or else the contents of the file `NAME_FILE` names (a mounted secret), so that
    no secret has to sit in the process environment."""
    value = env(name)
    path = env(f"{name}_FILE")
    if value or not path:
        return value
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE: cannot read {path} ({exc.strerror})") from exc


# Both may hold a password, so both have a *_FILE form too.
DATABASE_URL = env_secret("DATABASE_URL")
REDIS_URL = env_secret("REDIS_URL")
# Embedded mode: nothing configured. Any configured database or broker means a real deployment,
# where missing secrets are an error rather than something to invent.
EMBEDDED = not DATABASE_URL and not REDIS_URL
DATA_DIR = embedded.data_dir(BASE_DIR)

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DATABASE_URL or REDIS_URL is set (or SECRET_KEY_FILE)"
        )
    SECRET_KEY = embedded.generated_secret(DATA_DIR / "secret_key", nbytes=50)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django_prometheus",  # /metrics: HTTP and database metrics (core.metrics adds Lup's own)
    "core.apps.LupAdminConfig",  # django.contrib.admin with Lup's site (dashboard, registers)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # admin sign-in lock-outs (AXES_* below)
    "access",
    "identity",
    "ledger",
    "jurisdictions",
    "consent",
    "lineage",
    "erasure",
    "targets",
    "reports",
    "portal",
]

MIDDLEWARE = [
    # First and last, so the HTTP metrics time and count everything the others do.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.requestid.RequestIdMiddleware",
    # request.client_address: X-Forwarded-For believed from LUP_TRUSTED_PROXIES only.
    "core.clientip.ClientAddressMiddleware",
    # A chunked body is read whole or refused with 411, never seen as empty (core.bodies).
    "core.bodies.LengthRequiredMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A default Content-Security-Policy for responses that set none (the admin, the API docs).
    "core.security.DefaultContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Needs request.user: records each admin request of a staff member (access.StaffAction).
    "access.middleware.StaffAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Answers a locked-out sign-in with the lock-out page (django-axes; AXES_* below).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
# A refused form (CSRF) on the subject pages gets their 403 page, in the subject's language.
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{DATA_DIR / 'lup.sqlite3'}",
        # Kept for a minute: a new connection costs a server process and cold catalog caches,
        # more than the few statements of an API call or a task it would serve.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A kept connection that a failover or pg_terminate_backend ended is noticed before use,
        # instead of answering one request per thread with a 500.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a bulk import writes.
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;"}
# The same backends, wrapped by django-prometheus to count connections, queries and errors
# (labelled by alias and vendor only). Other engines are left as they are, without metrics.
_instrumented_engines = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _instrumented_engines.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache with one pool and one client per process (core.rediscache).
            "BACKEND": "core.rediscache.PooledRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("LUP_CACHE_PREFIX", "lup"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("km", "ភាសាខ្មែរ"),
    ("vi", "Tiếng Việt"),
    ("th", "ไทย"),
    ("id", "Bahasa Indonesia"),
    ("ms", "Bahasa Melayu"),
    ("fil", "Filipino"),
    ("my", "မြန်မာ"),
    ("lo", "ລາວ"),
    ("zh-hans", "中文"),
]
# Django knows no Filipino or Lao; tell it their names and direction.
LANG_INFO.update(
    {
        "fil": {"bidi": False, "code": "fil", "name": "Filipino", "name_local": "Filipino"},
        "lo": {"bidi": False, "code": "lo", "name": "Lao", "name_local": "ລາວ"},
    }
)
# The subject pages' catalogues (`manage.py makemessages -l km ...`, compiled at build).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' folders, so `make run` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True

# --- HTTPS and browser hardening (`manage.py check --deploy` is clean with production's) -----
# Behind a proxy that terminates TLS and sets X-Forwarded-Proto. Only turn it on when the proxy
# overwrites that header: a client could otherwise claim HTTPS.
LUP_BEHIND_TLS_PROXY = env_bool("LUP_BEHIND_TLS_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if LUP_BEHIND_TLS_PROXY else None
# The proxies in front of Lup (CIDRs, comma-separated): only from these is X-Forwarded-For
# believed, and the client is its right-most address that is not one of them (core.clientip).
# Empty (the default): the header is ignored and the connection's peer is the client. Rate
# limits, admin lock-outs and the staff audit use this address; gunicorn's forwarded_allow_ips
# follows it (deploy/gunicorn.conf.py).
LUP_TRUSTED_PROXIES = env_list("LUP_TRUSTED_PROXIES")
try:
    LUP_TRUSTED_NETWORKS = trusted_networks(LUP_TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(
        f"LUP_TRUSTED_PROXIES: {exc} (a comma-separated list of networks, e.g. 10.0.0.0/8)"
    ) from exc
# Cookies only over HTTPS; by default whenever Lup sits behind a TLS proxy.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=LUP_BEHIND_TLS_PROXY)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
# Plain HTTP is redirected to HTTPS, by default whenever Lup sits behind a TLS proxy. The probes
# and the metrics scrape are exempt: orchestrators and Prometheus call the pod directly.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=LUP_BEHIND_TLS_PROXY)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# HSTS: a year outside embedded mode and DEBUG. Browsers only heed it on an HTTPS response, and
# Django only sends it on one, so a plain-HTTP deployment is unaffected. Subdomains and preload
# commit the whole domain to HTTPS, so they are the operator's explicit choice (check --deploy
# warns until they are made: security.W005, W021).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if EMBEDDED or DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
# Django's defaults, stated because the deploy check and the pages depend on them.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent by core.security on every response that has no policy of its own (the subject pages
# set a stricter one). The admin and the API docs load scripts from this origin only; their
# templates have inline styles, and Swagger UI draws its icons as data: images. Empty: none.
LUP_CONTENT_SECURITY_POLICY = env(
    "LUP_CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

# Email: one-time codes to subjects. The embedded default writes messages to files in the data
# folder instead of printing them, so no address or code reaches the console log. Outside
# embedded mode those files would keep subjects' addresses and live codes on a server's disk, so
# no EMAIL_HOST is a startup error (lup.E090) unless LUP_MAIL_TO_FILES=true says so explicitly (a
# test stack), and then `check --deploy` warns (lup.W091).
LUP_MAIL_TO_FILES = env_bool("LUP_MAIL_TO_FILES", default=False)
if env("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env("EMAIL_HOST")
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "lup@localhost")

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: every view names the scopes it needs.
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.HasScope"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.exception_handler.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lup API",
    "DESCRIPTION": "Consent, lineage and erasure with verifiable receipts.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    "SECURITY": [{"bearerAuth": []}],
    # A target is described once per connector kind (targets/openapi.py), so its state's enum
    # appears in every variant: named here, as it was with one Target component.
    # The OpenLineage run states are one enum wherever they appear (an event's eventType, a
    # manifest run's state).
    "ENUM_NAME_OVERRIDES": {
        "TargetStateEnum": "erasure.models.Target.State",
        "RunStateEnum": "lineage.models.RunState",
    },
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None  # tasks report through the database, never through results
# Without a broker, tasks run in the calling process: the embedded default needs no worker.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
# Tasks are idempotent, so a task is acknowledged only after it ran, and a task whose worker died
# is delivered again rather than lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after each task unless this
# is set; with it, a worker keeps its connections as a web process does (DATABASE_CONN_MAX_AGE,
# health checks: config/celery.py), and the fixup closes them only every this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SOFT_TIME_LIMIT = env_int("LUP_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("LUP_TASK_TIME_LIMIT", 360)
# Redis redelivers an unacknowledged message after this many seconds; it must exceed the
# longest task so a running task is not handed to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("LUP_VISIBILITY_TIMEOUT", 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How often (seconds) beat runs the sweeper that finds erasure work lost from the broker.
LUP_SWEEP_INTERVAL_SECONDS = env_int("LUP_SWEEP_INTERVAL_SECONDS", 60)
# Celery beat signs a checkpoint of the log this often (seconds) when it has grown.
CELERY_BEAT_SCHEDULE = {
    "ledger-checkpoint": {
        "task": "ledger.checkpoint",
        "schedule": float(env_int("LUP_CHECKPOINT_SECONDS", 300)),
    },
    # Crypto-shredding of closed requests past their retention: hourly is precise enough.
    "erasure-shred": {"task": "erasure.shred_due", "schedule": 3600.0},
    # Re-enqueue erasure work that is unfinished in the database but lost from the broker.
    "erasure-sweep": {"task": "erasure.sweep", "schedule": float(LUP_SWEEP_INTERVAL_SECONDS)},
    # Subject indexes built by scanning their target every so many minutes (targets.indexing):
    # each minute, start those due, and again those whose worker was lost.
    "targets-index-due": {"task": "targets.index_due", "schedule": 60.0},
}

# --- Lup ------------------------------------------------------------------------------------
# The pepper of subject keys (HMAC-SHA256). Losing it orphans every key; leaking it lets anyone
# with a list of identifiers test membership, so it never lives in the repository.
LUP_SUBJECT_PEPPER = env_secret("LUP_SUBJECT_PEPPER")
if not LUP_SUBJECT_PEPPER:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "LUP_SUBJECT_PEPPER (or LUP_SUBJECT_PEPPER_FILE) must be set outside embedded mode"
        )
    LUP_SUBJECT_PEPPER = embedded.generated_secret(DATA_DIR / "subject_pepper")

# Key-encryption key (64 hex) wrapping each erasure request's data key. Requests' raw identifiers
# are sealed under those data keys; destroying a data key shreds its identifiers.
LUP_REQUEST_KEK = env_secret("LUP_REQUEST_KEK")
if not LUP_REQUEST_KEK:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "LUP_REQUEST_KEK must be set outside embedded mode (or LUP_REQUEST_KEK_FILE)"
        )
    LUP_REQUEST_KEK = embedded.generated_secret(DATA_DIR / "request_kek")
# One-time codes that confirm a subject's identity: lifetime, wrong guesses allowed, and the
# sender per identifier type, a dotted path to an identity.senders.CodeSender subclass (e-mail by
# default; add e.g. an SMS sender for "phone"). Checked at startup (lup.E040, lup.E041).
LUP_CODE_TTL_MINUTES = env_int("LUP_CODE_TTL_MINUTES", 15)
LUP_CODE_MAX_ATTEMPTS = env_int("LUP_CODE_MAX_ATTEMPTS", 5)
LUP_CODE_SENDERS = {"email": "identity.senders.EmailCodeSender"}
# Batching (connectors that erase many requests in one pass: files, Redis, SQL tables) is group
# commit: a run starts a pass at once when none is running on its target; runs that arrive while
# one runs join the next, at most LUP_BATCH_MAX a pass. LUP_BATCH_WINDOW_SECONDS adds an optional
# wait before a run starts (0: none), never past its request's deadline, none once LUP_BATCH_MAX
# runs are pending.
LUP_BATCH_WINDOW_SECONDS = env_int("LUP_BATCH_WINDOW_SECONDS", 0)
LUP_BATCH_MAX = env_int("LUP_BATCH_MAX", 1000)
# A sharded target (a directory of files) fans out one task per shard, except that consecutive
# shards smaller than this many bytes share a task, up to this many bytes a task (0: one task
# per shard, however small), at most 20 shards a task.
LUP_SHARD_GROUP_BYTES = env_int("LUP_SHARD_GROUP_BYTES", 1024 * 1024)
# Four eyes: whoever filed or verified an erasure request, or proposed a target, may not approve
# it. True lets one person do both (a one-person operator); the approval still names them.
LUP_ALLOW_SELF_APPROVAL = env_bool("LUP_ALLOW_SELF_APPROVAL", False)
# Webhook targets send subjects' identifiers out, so they may not reach Lup's own network: a
# destination that resolves to a loopback, private, link-local, multicast or reserved address is
# refused (connectors/destinations.py), unless it lies in one of these networks (an internal
# system, e.g. 10.1.2.0/24). None by default, embedded mode included.
LUP_WEBHOOK_ALLOW_NETWORKS = env_list("LUP_WEBHOOK_ALLOW_NETWORKS")
for _network in LUP_WEBHOOK_ALLOW_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"LUP_WEBHOOK_ALLOW_NETWORKS: {_network!r} is not a network (e.g. 10.1.2.0/24)"
        ) from exc
# An erasure request with more targets than this waits for a human's approval.
LUP_APPROVAL_MAX_TARGETS = env_int("LUP_APPROVAL_MAX_TARGETS", 20)
# An unfinished target run untouched this long (seconds) is enqueued again by the sweeper.
LUP_SWEEP_AFTER_SECONDS = env_int("LUP_SWEEP_AFTER_SECONDS", 300)
# A target run that fails is tried again up to LUP_RUN_MAX_ATTEMPTS times in all, waiting
# LUP_RUN_RETRY_BACKOFF_SECONDS after the first failure and twice as long after each next one
# (2, 4, 8, 16, 32 s: about a minute); then it ends `failed`, with its error code.
LUP_RUN_MAX_ATTEMPTS = env_int("LUP_RUN_MAX_ATTEMPTS", 6)
LUP_RUN_RETRY_BACKOFF_SECONDS = env_int("LUP_RUN_RETRY_BACKOFF_SECONDS", 2)
# How long a closed request keeps its sealed identifiers (for disputes) before they are shredded.
LUP_REQUEST_RETENTION_DAYS = env_int("LUP_REQUEST_RETENTION_DAYS", 30)

# Region used to read phone numbers written without a country code. Empty (the default) means
# such numbers are refused: guessing a country would silently give the person a wrong key.
LUP_PHONE_DEFAULT_REGION = env("LUP_PHONE_DEFAULT_REGION").upper() or None

# Receipt signing (ledger). The embedded default generates a key into the data folder.
LUP_SIGNING_KEY_FILE = env("LUP_SIGNING_KEY_FILE") or str(DATA_DIR / "signing_key")
LUP_LOG_ORIGIN = env("LUP_LOG_ORIGIN", "lup.localhost/receipts")

# How long a consent check answer may be served from the cache. Every new event for a subject
# invalidates that subject's answers at once, so this only bounds memory, not staleness.
LUP_CONSENT_CACHE_SECONDS = env_int("LUP_CONSENT_CACHE_SECONDS", 3600)
# Lines accepted in one bulk import call; the import is all-or-nothing, so this bounds one
# transaction.
LUP_CONSENT_IMPORT_MAX_LINES = env_int("LUP_CONSENT_IMPORT_MAX_LINES", 1_000_000)
# Lines accepted in one filter call (a training job's list of subjects).
LUP_CONSENT_FILTER_MAX_LINES = env_int("LUP_CONSENT_FILTER_MAX_LINES", 20_000_000)
# The consent filter lineage's purpose check calls, by path: lineage may not import consent.
LUP_CONSENT_FILTER = "consent.selectors.consent_filter_keys"
# Largest JSON body for ordinary API calls; bulk data goes to the streaming endpoints.
LUP_MAX_JSON_BYTES = env_int("LUP_MAX_JSON_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LUP_MAX_JSON_BYTES
# Largest OpenLineage event, after gzip decompression (a bomb is refused past this).
LUP_OPENLINEAGE_MAX_BYTES = env_int("LUP_OPENLINEAGE_MAX_BYTES", 5 * 1024 * 1024)
# Most inputs, and most outputs, one OpenLineage event may list (more: 400 too_many_datasets).
LUP_OPENLINEAGE_MAX_DATASETS = env_int("LUP_OPENLINEAGE_MAX_DATASETS", 10_000)
# Most nodes one lineage graph answer holds, whatever depth was asked (checked: lup.E070).
LUP_LINEAGE_MAX_NODES = env_int("LUP_LINEAGE_MAX_NODES", 10_000)
# Longest accepted line in imports and filters, in bytes.
LUP_MAX_LINE_BYTES = env_int("LUP_MAX_LINE_BYTES", 8192)

# The address subjects and other systems reach this service at: e-mailed bundle links, the
# status page's verifier-key URL, webhook callbacks. By default the one `make run` serves on
# (127.0.0.1:PORT), so links work out of the box on any port; set the public HTTPS address in
# production.
LUP_PUBLIC_URL = env("LUP_PUBLIC_URL", f"http://127.0.0.1:{env_int('PORT', 8000)}").rstrip("/")

# The subject pages (portal): who runs this service, which countries a subject can choose, the
# notice whose purposes are offered for consent, and rate limits (per client address and per
# identifier, over an hour) on every form that sends a code or checks one.
LUP_OPERATOR_NAME = env("LUP_OPERATOR_NAME", "Lup demo operator")
LUP_PORTAL_COUNTRIES = env_list("LUP_PORTAL_COUNTRIES") or [
    "SG",
    "MY",
    "TH",
    "VN",
    "KH",
    "LA",
    "MM",
    "ID",
    "PH",
    "BN",
    "TL",
]
LUP_PORTAL_NOTICE = env("LUP_PORTAL_NOTICE", "lup-demo-privacy")
LUP_PORTAL_PURPOSES = env_list("LUP_PORTAL_PURPOSES") or [
    "train_ai_system.fine_tuning",
    "train_ai_system.evaluation",
    "essential.service.inference_logging",
    "marketing.advertising",
]
LUP_PORTAL_RATE_PER_IP = env_int("LUP_PORTAL_RATE_PER_IP", 20)
LUP_PORTAL_RATE_PER_IDENTIFIER = env_int("LUP_PORTAL_RATE_PER_IDENTIFIER", 5)
LUP_PORTAL_SESSION_MINUTES = env_int("LUP_PORTAL_SESSION_MINUTES", 15)
# Days a subject's status link (which opens the receipt bundle) keeps working after the request
# closes; until then it works while the request is open. The links are stored only hashed.
LUP_STATUS_LINK_DAYS = env_int("LUP_STATUS_LINK_DAYS", 30)

# Markets this deployment serves (ISO 3166-1 alpha-2). Each needs jurisdictions/data/<CC>.yaml;
# a subject's request gets the strictest rule of these plus the subject's own country.
LUP_MARKETS = env_list("LUP_MARKETS", "SG,VN,TH,PH,ID,MY,KH,LA,MM,BN")
# Days to act on an erasure request where no jurisdiction considered sets a statutory deadline:
# the request is then honoured under the operator's policy, and its record says so.
LUP_POLICY_DEADLINE_DAYS = env_int("LUP_POLICY_DEADLINE_DAYS", 30)


# --- Governance readiness report (README "Readiness report") ---------------------------------
# The main languages of each market (ISO 639), which the evaluations of a model deployed there
# should cover. LUP_MARKET_LANGUAGES overrides markets one by one: "SG=en,zh,ms,ta;PH=fil,en".
LUP_MARKET_LANGUAGES = {
    "SG": ["en", "zh", "ms", "ta"],
    "VN": ["vi"],
    "TH": ["th"],
    "ID": ["id"],
    "MY": ["ms"],
    "PH": ["fil"],
    "KH": ["km"],
    "LA": ["lo"],
    "MM": ["my"],
    "BN": ["ms"],
    "TL": ["tet", "pt"],
}
for _entry in filter(None, (part.strip() for part in env("LUP_MARKET_LANGUAGES").split(";"))):
    _market, _, _languages = _entry.partition("=")
    if not _languages.strip():
        raise ImproperlyConfigured(
            f"LUP_MARKET_LANGUAGES: {_entry!r} is not MARKET=language,language (e.g. PH=fil,en)"
        )
    LUP_MARKET_LANGUAGES[_market.strip().upper()] = [
        code.strip() for code in _languages.split(",") if code.strip()
    ]
# The period a report covers when none is asked for (days up to now), and how many completed
# requests its explainability section samples.
LUP_READINESS_PERIOD_DAYS = env_int("LUP_READINESS_PERIOD_DAYS", 90)
# Records and gaps listed per section of the readiness report (the counts cover them all).
LUP_READINESS_MAX_RECORDS = env_int("LUP_READINESS_MAX_RECORDS", 500)
LUP_READINESS_SAMPLE = env_int("LUP_READINESS_SAMPLE", 20)
# Directories file connectors may rewrite (comma-separated). A target's path must resolve,
# symlinks followed, to somewhere under one of these; a relative path is taken from the first.
LUP_FILE_ROOTS = env_list("LUP_FILE_ROOTS", str(DATA_DIR / "targets"))
# Where `load_demo` writes the demo's files (it registers them by absolute path). It stays a
# root whatever LUP_FILE_ROOTS says, last, so the demo keeps working when the roots change and
# a relative path still means the first root given; only the demo's own files live there.
LUP_DEMO_DIR = DATA_DIR / "targets" / "demo"
LUP_FILE_ROOTS.append(str(LUP_DEMO_DIR))
# Directories a target's secret files may be read from (`dsn_file`, `url_file`, `secret_file`;
# comma-separated): where the platform mounts secrets (Docker and Kubernetes: /run/secrets). A
# file elsewhere is refused, so a target's config cannot make a connector read any file.
LUP_SECRET_FILE_ROOTS = env_list("LUP_SECRET_FILE_ROOTS", "/run/secrets")

# Staff sign in to the admin with a TOTP code as well as their password (django-otp; devices
# are registered under "TOTP devices" in the admin). Turn on in production: `check --deploy`
# warns while it is off (lup.W050).
LUP_ADMIN_REQUIRE_OTP = env_bool("LUP_ADMIN_REQUIRE_OTP", default=False)
# Admin sign-in throttling (django-axes): after LUP_ADMIN_LOGIN_FAILURES wrong passwords for one
# username from one client address, that pair is locked out for LUP_ADMIN_LOCKOUT_MINUTES. Keyed
# on both, so nobody can lock a colleague out from elsewhere, and on the real client address
# (core.clientip, behind LUP_TRUSTED_PROXIES). Each lock-out writes a staff audit row.
LUP_ADMIN_LOGIN_FAILURES = env_int("LUP_ADMIN_LOGIN_FAILURES", 5)
LUP_ADMIN_LOCKOUT_MINUTES = env_int("LUP_ADMIN_LOCKOUT_MINUTES", 15)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LUP_ADMIN_LOGIN_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=LUP_ADMIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_CLIENT_IP_CALLABLE = "core.clientip.client_address"
AXES_LOCKOUT_TEMPLATE = "access/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# Axes' own log lines name the username and address of every failure; the audit row is enough.
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the staff audit already
# The admin index's dashboard: a function of the request, by path, since core imports no app.
# Empty means Django's plain index.
LUP_ADMIN_DASHBOARD = "reports.dashboard.dashboard"
# Pages the apps add to the admin site: functions taking the site and returning URL patterns.
LUP_ADMIN_URLS = [
    "reports.admin.registers.admin_urls",
    "reports.admin.readiness.admin_urls",
    "reports.admin.frameworks.admin_urls",
]

# --- Metrics (/metrics, README "Metrics") ----------------------------------------------------
# Who may scrape: with LUP_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>`;
# with LUP_METRICS_ALLOW_NETWORKS set, it must come from one of them (as Django sees the client
# address: behind a proxy, the proxy's). Both must hold when both are set. With neither, nobody
# may: the embedded default allows loopback, a real deployment nothing until one is set.
LUP_METRICS_TOKEN = env_secret("LUP_METRICS_TOKEN")
LUP_METRICS_ALLOW_NETWORKS = env_list(
    "LUP_METRICS_ALLOW_NETWORKS", "127.0.0.0/8,::1/128" if EMBEDDED else ""
)
for _network in LUP_METRICS_ALLOW_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"LUP_METRICS_ALLOW_NETWORKS: {_network!r} is not a network (e.g. 10.0.0.0/8)"
        ) from exc
# Lup's own metrics are counted in the database at scrape time, so every web process reports
# the same figures; a process reuses its last answer for this many seconds, so a burst of
# scrapes costs the database one round of queries.
LUP_METRICS_CACHE_SECONDS = env_int("LUP_METRICS_CACHE_SECONDS", 5)
# Requests closed within this many days make up the time-to-close summary.
LUP_METRICS_WINDOW_DAYS = env_int("LUP_METRICS_WINDOW_DAYS", 30)
# The functions, by path, that compute Lup's metric families (core imports no app).
LUP_METRICS_SOURCES = ["erasure.metrics.erasure_metrics", "ledger.metrics.ledger_metrics"]

LOG_LEVEL = env("LOG_LEVEL", "INFO").upper()
LUP_LOG_FILE = env("LUP_LOG_FILE")
LOGGING_CONFIG = None
logging_config(level=LOG_LEVEL, log_file=LUP_LOG_FILE or None, embedded=EMBEDDED)
