"""The admin views behind the buttons of an erasure request's page.

Actions (approve, deny, legal hold, model decision, retry) are POST only, CSRF-checked by
`AdminSite.admin_view`, and each asks for `erasure.act_on_erasurerequest` itself: hiding a
button is not a permission check, so a forged POST from a role without it gets 403 and changes
nothing. Each calls one service; a refusal (`ApplicationError`) becomes an error message, a
success a success message and an entry in the admin log with the reason, and both lead back
to the request's page.

Reading views (a receipt's JSON, its verification, a plan entry's explanation) ask only for
the view permission: checking evidence changes nothing, so auditors may do it too.
"""

import json
from collections.abc import Callable
from datetime import datetime, time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from access.roles import ACT_ON_REQUESTS
from core.actors import staff_actor
from core.errors import ApplicationError
from erasure import selectors
from erasure.admin.plan_picture import plan_svg
from erasure.gate import (
    affected_model_decide,
    erasure_request_approve,
    erasure_request_deny,
    erasure_request_retry_failed,
)
from erasure.models import AffectedModel, ErasureRequest, PlanEntry, TargetRun
from erasure.services import legal_hold_create
from ledger import selectors as ledger_selectors

if TYPE_CHECKING:
    from ledger.models import Receipt

MAX_REASON = 2000


class ReasonForm(forms.Form):
    """A decision with its reason; an empty reason is left to the service to refuse."""

    reason = forms.CharField(
        max_length=MAX_REASON, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )


class LegalHoldForm(ReasonForm):
    basis = forms.CharField(
        max_length=128, help_text="A short code written into receipts, e.g. litigation-2026-7"
    )
    until = forms.DateField(
        help_text="The hold ends at the start of this day (YYYY-MM-DD)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class ModelDecisionForm(forms.Form):
    model_version = forms.UUIDField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(
        choices=[
            ("", "— decide —"),
            *(
                (d.value, d.label)
                for d in AffectedModel.Decision
                if d != AffectedModel.Decision.PENDING
            ),
        ]
    )
    justification = forms.CharField(
        max_length=MAX_REASON, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )


def actor_of(request: HttpRequest) -> str:
    return staff_actor(request.user.get_username())


def change_url(model_admin: admin.ModelAdmin, obj: ErasureRequest) -> str:
    return reverse(f"{model_admin.admin_site.name}:erasure_erasurerequest_change", args=[obj.pk])


def admin_url(model_admin: admin.ModelAdmin, name: str, *args: Any) -> str | None:
    """An admin page's URL, or None when this admin site does not have that page."""
    try:
        return reverse(f"{model_admin.admin_site.name}:{name}", args=args)
    except NoReverseMatch:
        return None


def _request_or_404(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID
) -> ErasureRequest:
    obj = model_admin.get_object(request, object_id)
    if obj is None:
        raise Http404("No such erasure request.")
    return obj


def _viewable(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID
) -> ErasureRequest:
    obj = _request_or_404(model_admin, request, object_id)
    if not model_admin.has_view_permission(request, obj):
        raise PermissionDenied
    return obj


def _acting(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID) -> ErasureRequest:
    # Checked before the object is looked up, so a role without the permission learns nothing.
    if not request.user.has_perm(ACT_ON_REQUESTS):
        raise PermissionDenied
    return _request_or_404(model_admin, request, object_id)


def _act(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    obj: ErasureRequest,
    form: forms.Form,
    do: Callable[[dict[str, Any]], str],
) -> HttpResponseRedirect:
    """Run `do` on the form's data; it returns the success message (also logged)."""
    if not form.is_valid():
        for field, errors in form.errors.items():
            name = field.replace("_", " ").capitalize() if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{name}: {error}" if name else error)
        return HttpResponseRedirect(change_url(model_admin, obj))
    try:
        done = do(form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, f"{exc.detail} ({exc.code})")
    else:
        model_admin.log_change(request, obj, done)
        messages.success(request, done)
    return HttpResponseRedirect(change_url(model_admin, obj))


def approve_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID
) -> HttpResponse:
    obj = _acting(model_admin, request, object_id)

    def do(data: dict[str, Any]) -> str:
        erasure_request_approve(request=obj, actor=actor_of(request), reason=data["reason"])
        return f"Approved: {data['reason'].strip()}"

    return _act(model_admin, request, obj, ReasonForm(request.POST), do)


def deny_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID) -> HttpResponse:
    obj = _acting(model_admin, request, object_id)

    def do(data: dict[str, Any]) -> str:
        erasure_request_deny(request=obj, actor=actor_of(request), reason=data["reason"])
        return f"Denied: {data['reason'].strip()}"

    return _act(model_admin, request, obj, ReasonForm(request.POST), do)


def legal_hold_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID
) -> HttpResponse:
    obj = _acting(model_admin, request, object_id)

    def do(data: dict[str, Any]) -> str:
        if not data["reason"].strip():
            raise ApplicationError("Say why the subject's data is held.", code="reason_required")
        keys = list(obj.subject_keys.values_list("key", flat=True))
        if not keys:
            raise ApplicationError("This request names no subject key.", code="no_subject_key")
        until = timezone.make_aware(datetime.combine(data["until"], time.min))
        # One hold per key of the subject, all or none.
        with transaction.atomic():
            for key in keys:
                legal_hold_create(
                    actor=actor_of(request), basis=data["basis"], until=until, subject_key=key
                )
        return (
            f"Legal hold {data['basis']} on this subject ({len(keys)} key(s)) until "
            f"{data['until']:%Y-%m-%d}: {data['reason'].strip()}"
        )

    return _act(model_admin, request, obj, LegalHoldForm(request.POST), do)


def model_decision_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID
) -> HttpResponse:
    obj = _acting(model_admin, request, object_id)

    def do(data: dict[str, Any]) -> str:
        decided = affected_model_decide(
            request=obj,
            model_version_id=data["model_version"],
            decision=data["decision"],
            justification=data["justification"],
            actor=actor_of(request),
        )
        why = f": {decided.justification}" if decided.justification else ""
        return f"Decided {decided.decision} for {decided.model_version}{why}"

    return _act(model_admin, request, obj, ModelDecisionForm(request.POST), do)


def retry_failed_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID
) -> HttpResponse:
    obj = _acting(model_admin, request, object_id)

    def do(data: dict[str, Any]) -> str:
        failed = obj.runs.filter(status=TargetRun.Status.FAILED).count()
        erasure_request_retry_failed(request=obj, actor=actor_of(request), reason=data["reason"])
        return f"{failed} failed target(s) run again: {data['reason'].strip()}"

    return _act(model_admin, request, obj, ReasonForm(request.POST), do)


# --- reading ----------------------------------------------------------------------------------


def receipt_download_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID, receipt_id: UUID
) -> HttpResponse:
    """A receipt of this request as the JSON document the API serves (envelope and proof)."""
    obj = _viewable(model_admin, request, object_id)
    receipt = _receipt_or_404(obj, receipt_id)
    try:
        document = ledger_selectors.receipt_document(receipt)
    except ledger_selectors.CheckpointPending as exc:
        messages.error(request, f"Receipt {receipt_id}: {exc.detail}")
        return HttpResponseRedirect(change_url(model_admin, obj))
    response = HttpResponse(json.dumps(document, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="receipt-{receipt_id}.json"'
    return response


def receipt_verify_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID, receipt_id: UUID
) -> HttpResponse:
    obj = _viewable(model_admin, request, object_id)
    receipt = _receipt_or_404(obj, receipt_id)
    failure = selectors.receipt_check(receipt=receipt)
    if failure is None:
        messages.success(
            request,
            f"Receipt {receipt_id} verifies: signature, log inclusion "
            "and checkpoint, with this deployment's key.",
        )
    else:
        messages.error(request, f"Receipt {receipt_id} does not verify: {failure}")
    return HttpResponseRedirect(change_url(model_admin, obj))


def _receipt_or_404(obj: ErasureRequest, receipt_id: UUID) -> "Receipt":
    try:
        return selectors.erasure_request_receipt(request=obj, receipt_id=receipt_id)
    except ApplicationError:
        raise Http404("No such receipt for this request.") from None


def linker(
    model_admin: admin.ModelAdmin, request: HttpRequest, obj: ErasureRequest
) -> Callable[[str, object], str | None]:
    """Links from the plan's picture: versions and models to their lineage admin pages (for
    staff who may see them), targets to their plan entry's explanation."""
    pages = {"version": "datasetversion", "model": "modelversion"}

    def link(kind: str, pk: object) -> str | None:
        if kind == "entry":
            return admin_url(model_admin, "erasure_erasurerequest_plan_entry", obj.pk, pk)
        if not request.user.has_perm(f"lineage.view_{pages[kind]}"):
            return None
        return admin_url(model_admin, f"lineage_{pages[kind]}_change", pk)

    return link


def plan_entry_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: UUID, entry_id: int
) -> HttpResponse:
    """Why a target is in the plan: its reasons, the lineage path from the version holding the
    subject to the version the target stores, and the membership rows that started it."""
    obj = _viewable(model_admin, request, object_id)
    entry = PlanEntry.objects.filter(request=obj, pk=entry_id).select_related("target").first()
    if entry is None:
        raise Http404("No such plan entry.")
    lineage = selectors.erasure_request_lineage(request=obj)
    link = linker(model_admin, request, obj)
    ends = next(ends for planned, ends in lineage.entries if planned.pk == entry.pk)
    key_types = dict(obj.subject_keys.values_list("key", "id_type"))
    paths = []
    for end in ends:
        path = lineage.path(end)
        paths.append(
            {
                "versions": [{"version": v, "url": link("version", v.pk)} for v in path],
                "memberships": [
                    {
                        "row": row,
                        "id_type": key_types.get(row.subject_key, ""),
                        "key": f"{row.subject_key[:12]}…",
                        "version": path[0],
                    }
                    for row in lineage.memberships.get(path[0].pk, [])
                ],
            }
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Why {entry.target.name} is in the plan",
        "opts": model_admin.model._meta,
        "original": obj,
        "entry": entry,
        "paths": paths,
        "picture": plan_svg(lineage, link=link, entry_id=entry.pk),
        "target_url": (
            admin_url(model_admin, "erasure_target_change", entry.target_id)
            if request.user.has_perm("erasure.view_target")
            else None
        ),
        "request_url": change_url(model_admin, obj),
    }
    return TemplateResponse(request, "admin/erasure/erasurerequest/plan_entry.html", context)
