from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core import health, metrics
from core.errors import json_error_view

api_v1 = [
    path("consent/", include("consent.urls")),
    path("", include("ledger.urls")),
    path("", include("lineage.urls")),
    path("", include("jurisdictions.urls")),
    path("", include("erasure.urls")),
    path("", include("targets.urls")),
    path("", include("reports.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own, so the docs run
    # under a Content-Security-Policy that allows scripts from this origin only (core.security).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
# The subject pages, under a language prefix (`/km/…`); `/` goes to the language the browser
# asks for (Accept-Language), else English.
urlpatterns += i18n_patterns(path("", include("portal.urls")))

handler400 = "config.urls.bad_request"
handler403 = "config.urls.permission_denied"
handler404 = "config.urls.not_found"
handler500 = "config.urls.server_error"

_api_bad_request = json_error_view(400, "bad_request", "The request could not be understood.")
_api_forbidden = json_error_view(403, "permission_denied", "Not allowed.")
_api_not_found = json_error_view(404, "not_found", "Not found.")
# A failure may come after a commit (a view that changes two things in turn), so the answer
# does not claim that nothing changed: the caller reads the resource again to know.
_api_server_error = json_error_view(
    500, "server_error", "The server failed. Read the resource again to see its state."
)


def _answer(request, status: int, api, django_view, *args):
    """The API answers in its JSON shape, the admin with Django's pages, and everything else
    (the subject pages) with a page in the subject's language under their strict policy."""
    if request.path.startswith("/api/"):
        return api(request, *args)
    if request.path.startswith("/admin/"):
        return django_view(request, *args)
    from portal.errors import error_page

    return error_page(request, status)


def bad_request(request, exception=None):
    from django.views.defaults import bad_request as django_view

    return _answer(request, 400, _api_bad_request, django_view, exception)


def permission_denied(request, exception=None):
    from django.views.defaults import permission_denied as django_view

    return _answer(request, 403, _api_forbidden, django_view, exception)


def not_found(request, exception=None):
    from django.views.defaults import page_not_found as django_view

    return _answer(request, 404, _api_not_found, django_view, exception)


def server_error(request):
    from django.views.defaults import server_error as django_view

    return _answer(request, 500, _api_server_error, django_view)
