"""The admin's Readiness page: the governance readiness report for a period, its printable
export (HTML a browser prints to PDF) and its signed JSON. `admin_urls` is listed in
`LUP_ADMIN_URLS`; every page needs the view permission of erasure requests, as the API needs
`erasure:read`."""

import json
from datetime import date

from django import forms
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from core.errors import ApplicationError
from reports.readiness import Period, readiness_report, readiness_report_signed
from reports.readiness.display import report_display

PERMISSION = "erasure.view_erasurerequest"


class PeriodForm(forms.Form):
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="to (included)", widget=forms.DateInput(attrs={"type": "date"})
    )


def period_report(request: HttpRequest) -> tuple[PeriodForm, dict | None]:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = PeriodForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return form, None
    days: dict[str, date | None] = form.cleaned_data if form.is_bound else {}
    now = timezone.now()
    try:
        period = Period.of_dates(start=days.get("start"), end=days.get("end"), now=now)
    except ApplicationError as error:
        form.add_error(None, error.detail)
        return form, None
    return form, readiness_report(period=period, now=now)


def _query(request: HttpRequest) -> str:
    return request.GET.urlencode()


def readiness_page(request: HttpRequest, *, site: AdminSite) -> TemplateResponse:
    form, report = period_report(request)
    context = {
        **site.each_context(request),
        "title": "Governance readiness",
        "form": form,
        "report": report,
        "sections": report_display(report) if report else [],
        "query": _query(request),
    }
    return TemplateResponse(
        request, "admin/reports/readiness.html", context, status=200 if report else 400
    )


def readiness_print(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    _, report = period_report(request)
    if report is None:
        return readiness_page(request, site=site)
    context = {
        "report": report,
        "sections": report_display(report),
        "site_header": site.site_header,
    }
    return TemplateResponse(request, "admin/reports/readiness_print.html", context)


def readiness_signed(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    _, report = period_report(request)
    if report is None:
        return readiness_page(request, site=site)
    envelope = readiness_report_signed(report=report)
    response = HttpResponse(json.dumps(envelope, indent=1), content_type="application/json")
    filename = f"readiness-report-{timezone.localdate():%Y-%m-%d}.signed.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def admin_urls(site: AdminSite) -> list[URLPattern]:
    """The pages' URLs on `site`, each behind its staff login (`admin_view`)."""

    def page(request: HttpRequest) -> HttpResponse:
        return readiness_page(request, site=site)

    def printable(request: HttpRequest) -> HttpResponse:
        return readiness_print(request, site=site)

    def signed(request: HttpRequest) -> HttpResponse:
        return readiness_signed(request, site=site)

    return [
        path("readiness/", site.admin_view(page), name="readiness"),
        path("readiness/print", site.admin_view(printable), name="readiness_print"),
        path("readiness/signed.json", site.admin_view(signed), name="readiness_signed"),
    ]
