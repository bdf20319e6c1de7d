"""The admin's framework views of the readiness report: one page a framework (AI Verify, the
ASEAN Guide, Singapore's two frameworks) with Lup's answers and the items left for the
operator, and the AI Verify import file to download, plain or signed. `admin_urls` is listed
in `LUP_ADMIN_URLS`; every page needs the readiness report's permission."""

import json

from django.contrib.admin import AdminSite
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from core.errors import NotFound
from reports.admin.readiness import period_report, readiness_page
from reports.frameworks import aiverify_import, aiverify_signed, framework_answers, framework_get
from reports.frameworks.catalog import catalog


def framework_page(request: HttpRequest, slug: str, *, site: AdminSite) -> TemplateResponse:
    form, report = period_report(request)
    try:
        framework = framework_get(slug=slug)
    except NotFound:
        raise Http404("No such framework.") from None
    answers = framework_answers(report=report, framework=framework) if report else None
    context = {
        **site.each_context(request),
        "title": f"Governance readiness: {framework.title}",
        "form": form,
        "framework": framework,
        "frameworks": catalog().frameworks.values(),
        "answers": answers,
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(
        request,
        "admin/reports/readiness_framework.html",
        context,
        status=200 if answers else 400,
    )


def _download(body: dict, name: str) -> HttpResponse:
    response = HttpResponse(json.dumps(body, indent=1), content_type="application/json")
    filename = f"{name}-{timezone.localdate():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def aiverify_download(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    _, report = period_report(request)
    if report is None:
        return readiness_page(request, site=site)
    return _download(aiverify_import(report=report), "aiverify-process-checklist")


def aiverify_signed_download(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    _, report = period_report(request)
    if report is None:
        return readiness_page(request, site=site)
    return _download(aiverify_signed(report=report), "aiverify-process-checklist.signed")


def admin_urls(site: AdminSite) -> list[URLPattern]:
    """The pages' URLs on `site`, each behind its staff login (`admin_view`)."""

    def page(request: HttpRequest, slug: str) -> HttpResponse:
        return framework_page(request, slug, site=site)

    def download(request: HttpRequest) -> HttpResponse:
        return aiverify_download(request, site=site)

    def signed(request: HttpRequest) -> HttpResponse:
        return aiverify_signed_download(request, site=site)

    return [
        path("readiness/aiverify.json", site.admin_view(download), name="readiness_aiverify"),
        path(
            "readiness/aiverify.signed.json",
            site.admin_view(signed),
            name="readiness_aiverify_signed",
        ),
        path(
            "readiness/frameworks/<slug:slug>/",
            site.admin_view(page),
            name="readiness_framework",
        ),
    ]
