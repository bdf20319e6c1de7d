"""Error pages of the subject pages (400, 403, 404, 500) in the subject's language, under the
subject pages' strict Content-Security-Policy. The language is the one the address names
(`/km/…`), as LocaleMiddleware set it; the admin and the API keep their own error answers
(config.urls routes them)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from portal.security import subject_page

MESSAGES = {
    400: _("We could not understand this request. Please go back and try again."),
    403: _(
        "This form could not be sent, perhaps because it was open for a long time. Please go "
        "back, reload the page and try again."
    ),
    404: _("This page does not exist, or its link is no longer valid."),
    500: _("Something went wrong on our side and nothing was changed. Please try again later."),
}


def error_page(request: HttpRequest, status: int) -> HttpResponse:
    # No database, session or user here: a 500 page must render whatever failed.
    page = subject_page(
        lambda request: render(
            request, "portal/error.html", {"message": MESSAGES[status]}, status=status
        )
    )
    return page(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the subject pages' 403; the admin keeps Django's own."""
    if request.path.startswith("/admin/"):
        from django.views.csrf import csrf_failure as django_csrf_failure

        return django_csrf_failure(request, reason)
    return error_page(request, 403)
