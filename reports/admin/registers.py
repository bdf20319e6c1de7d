"""The admin's Registers page: the erasure request register and the consent register, filtered
and downloaded as CSV.

The CSV is streamed row by row, so a register of millions of rows never sits in memory. Each
register needs the view permission of what it lists; the page shows the ones a user may have.
`admin_urls` is listed in `LUP_ADMIN_URLS`.
"""

import csv
from collections.abc import Iterable, Iterator, Sequence

from django import forms
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from consent.models import Purpose
from consent.models import Status as ConsentStatus
from erasure.models import State
from reports.consent_register import (
    CONSENT_REGISTER_COLUMNS,
    consent_register,
    consent_register_rows,
)
from reports.erasure_register import (
    REQUEST_REGISTER_COLUMNS,
    erasure_request_register,
    erasure_request_register_rows,
)

REQUESTS_PERMISSION = "erasure.view_erasurerequest"
CONSENT_PERMISSION = "consent.view_consentevent"

_country = RegexValidator(r"^[A-Za-z]{2}$", "A country is two letters (ISO 3166-1 alpha-2).")


class _DateRangeForm(forms.Form):
    date_fields: tuple[str, str] = ("", "")

    def clean(self):
        cleaned = super().clean()
        start, end = (cleaned.get(name) for name in self.date_fields)
        if start and end and start > end:
            raise forms.ValidationError("The first date is after the last.")
        return cleaned


class RequestRegisterFilter(_DateRangeForm):
    date_fields = ("received_from", "received_to")
    received_from = forms.DateField(
        required=False, label="Received from", widget=forms.DateInput(attrs={"type": "date"})
    )
    received_to = forms.DateField(
        required=False, label="to (included)", widget=forms.DateInput(attrs={"type": "date"})
    )
    country = forms.CharField(
        required=False, max_length=2, validators=[_country], label="Subject's country"
    )
    state = forms.ChoiceField(
        required=False, label="State or outcome", choices=[("", "any"), *State.choices]
    )


class ConsentRegisterFilter(_DateRangeForm):
    date_fields = ("event_from", "event_to")
    event_from = forms.DateField(
        required=False, label="Event time from", widget=forms.DateInput(attrs={"type": "date"})
    )
    event_to = forms.DateField(
        required=False, label="to (included)", widget=forms.DateInput(attrs={"type": "date"})
    )
    jurisdiction = forms.CharField(required=False, max_length=2, validators=[_country])
    purpose = forms.ModelChoiceField(
        required=False, queryset=Purpose.objects.all(), to_field_name="key", empty_label="any"
    )
    status = forms.ChoiceField(required=False, choices=[("", "any"), *ConsentStatus.choices])


class _Echo:
    """A file that hands back what is written, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


# Spreadsheets run a cell that starts with one of these as a formula; a quote keeps it text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def csv_stream(
    *, header: Sequence[str], rows: Iterable[Sequence[str]], filename: str
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Registers are evidence about people; no shared cache keeps a copy.
    response["Cache-Control"] = "private, no-store"
    return response


def _filename(register: str) -> str:
    return f"{register}-register-{timezone.localdate():%Y-%m-%d}.csv"


def registers_page(
    request: HttpRequest,
    *,
    site: AdminSite,
    status: int = 200,
    request_form: RequestRegisterFilter | None = None,
    consent_form: ConsentRegisterFilter | None = None,
) -> TemplateResponse:
    can_requests = request.user.has_perm(REQUESTS_PERMISSION)
    can_consent = request.user.has_perm(CONSENT_PERMISSION)
    if not (can_requests or can_consent):
        raise PermissionDenied
    # Bound to the query string, so a 400 shows the filters as they were typed.
    request_form = request_form or RequestRegisterFilter(request.GET or None)
    consent_form = consent_form or ConsentRegisterFilter(request.GET or None)
    context = {
        **site.each_context(request),
        "title": "Registers",
        "request_form": request_form if can_requests else None,
        "consent_form": consent_form if can_consent else None,
        "request_columns": REQUEST_REGISTER_COLUMNS,
        "consent_columns": CONSENT_REGISTER_COLUMNS,
    }
    return TemplateResponse(request, "admin/reports/registers.html", context, status=status)


def request_register_csv(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    if not request.user.has_perm(REQUESTS_PERMISSION):
        raise PermissionDenied
    form = RequestRegisterFilter(request.GET)
    if not form.is_valid():
        return registers_page(request, site=site, status=400, request_form=form)
    requests = erasure_request_register(**form.cleaned_data)
    return csv_stream(
        header=REQUEST_REGISTER_COLUMNS,
        rows=erasure_request_register_rows(requests),
        filename=_filename("erasure-request"),
    )


def consent_register_csv(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    if not request.user.has_perm(CONSENT_PERMISSION):
        raise PermissionDenied
    form = ConsentRegisterFilter(request.GET)
    if not form.is_valid():
        return registers_page(request, site=site, status=400, consent_form=form)
    filters = dict(form.cleaned_data)
    filters["purpose"] = filters["purpose"].key if filters["purpose"] else ""
    return csv_stream(
        header=CONSENT_REGISTER_COLUMNS,
        rows=consent_register_rows(consent_register(**filters)),
        filename=_filename("consent"),
    )


def admin_urls(site: AdminSite) -> list[URLPattern]:
    """The pages' URLs on `site`, each behind its staff login (`admin_view`)."""

    def page(request: HttpRequest) -> HttpResponse:
        return registers_page(request, site=site)

    def requests_csv(request: HttpRequest) -> HttpResponse:
        return request_register_csv(request, site=site)

    def consent_csv(request: HttpRequest) -> HttpResponse:
        return consent_register_csv(request, site=site)

    return [
        path("registers/", site.admin_view(page), name="registers"),
        path(
            "registers/erasure-requests.csv",
            site.admin_view(requests_csv),
            name="registers_requests_csv",
        ),
        path("registers/consent.csv", site.admin_view(consent_csv), name="registers_consent_csv"),
    ]
