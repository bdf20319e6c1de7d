"""The erasure request's admin: intake, its page (plan, lineage picture, receipts) and the
officer's actions on it."""

from datetime import datetime
from functools import update_wrapper
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from access.roles import ACT_ON_REQUESTS
from core.actors import staff_actor
from core.errors import ApplicationError
from core.readonly_admin import ReadOnlyAdmin
from erasure import selectors
from erasure.admin import actions as admin_actions
from erasure.admin.actions import LegalHoldForm, ModelDecisionForm, ReasonForm, admin_url, linker
from erasure.admin.filters import DeadlineFilter
from erasure.admin.plan_picture import plan_svg
from erasure.models import CLOSED_STATES, ErasureRequest, LegalHold, State, TargetRun
from erasure.services import TRANSITIONS, erasure_request_create
from jurisdictions.rules import Deadline


class IntakeForm(forms.Form):
    """Staff file a request for a subject who asked by phone, letter or at a counter."""

    identifiers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, as type:value, e.g. email:sokha@example.com or phone:+855…",
    )
    country = forms.CharField(
        required=False,
        max_length=2,
        help_text="The subject's country (ISO 3166-1 alpha-2), if known",
    )

    def clean_identifiers(self) -> list[dict[str, str]]:
        parsed = []
        for line in self.cleaned_data["identifiers"].splitlines():
            if not line.strip():
                continue
            id_type, sep, value = line.partition(":")
            if not sep:
                raise forms.ValidationError("Write each identifier as type:value.")
            parsed.append({"id_type": id_type.strip(), "value": value.strip()})
        return parsed


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdmin):
    """The request queue. Identifiers are sealed and never shown; keys identify the subject."""

    def has_add_permission(self, request):
        return request.user.has_perm("erasure.add_erasurerequest")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IntakeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                filed, _ = erasure_request_create(
                    identifiers=form.cleaned_data["identifiers"],
                    country=form.cleaned_data["country"].upper() or None,
                    channel="admin",
                    actor=staff_actor(request.user.get_username()),
                )
            except ApplicationError as exc:
                form.add_error(None, f"{exc.code}: {exc.detail}")
            else:
                messages.success(request, "The request was filed.")
                return redirect("admin:erasure_erasurerequest_change", filed.pk)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "File an erasure request",
            "opts": self.model._meta,
        }
        return render(request, "admin/erasure/intake.html", context)

    list_display = (
        "id",
        "state",
        "channel",
        "subject_country",
        "received_at",
        "deadline",
        "linked_to",
    )
    list_filter = ("state", DeadlineFilter, "channel", "subject_country")
    date_hierarchy = "received_at"
    fields = (
        "id",
        "state",
        "channel",
        "subject_country",
        "requested_by",
        "linked_to",
        "received_at",
        "verified_at",
        "deadline",
        "closed_at",
        "retention_until",
        "shredded_at",
    )
    readonly_fields = fields
    # The page draws the timeline, plan, runs and receipts itself, and the action forms
    # (outside the read-only form) for roles that may act.
    change_form_template = "admin/erasure/erasurerequest/change_form.html"

    def get_urls(self):
        def wrap(view, method: str):
            # admin_view asks for an active staff session and checks the CSRF token; the
            # view itself asks for the permission it needs.
            @require_http_methods([method])
            def wrapper(request, *args, **kwargs):
                return view(self, request, *args, **kwargs)

            wrapper.model_admin = self
            return update_wrapper(self.admin_site.admin_view(wrapper), view)

        name = "erasure_erasurerequest"
        return [
            path(
                "<uuid:object_id>/approve/",
                wrap(admin_actions.approve_view, "POST"),
                name=f"{name}_approve",
            ),
            path(
                "<uuid:object_id>/deny/", wrap(admin_actions.deny_view, "POST"), name=f"{name}_deny"
            ),
            path(
                "<uuid:object_id>/legal-hold/",
                wrap(admin_actions.legal_hold_view, "POST"),
                name=f"{name}_legal_hold",
            ),
            path(
                "<uuid:object_id>/model-decision/",
                wrap(admin_actions.model_decision_view, "POST"),
                name=f"{name}_model_decision",
            ),
            path(
                "<uuid:object_id>/retry-failed/",
                wrap(admin_actions.retry_failed_view, "POST"),
                name=f"{name}_retry_failed",
            ),
            path(
                "<uuid:object_id>/receipts/<uuid:receipt_id>.json",
                wrap(admin_actions.receipt_download_view, "GET"),
                name=f"{name}_receipt",
            ),
            path(
                "<uuid:object_id>/receipts/<uuid:receipt_id>/verify/",
                wrap(admin_actions.receipt_verify_view, "POST"),
                name=f"{name}_receipt_verify",
            ),
            path(
                "<uuid:object_id>/plan/<int:entry_id>/",
                wrap(admin_actions.plan_entry_view, "GET"),
                name=f"{name}_plan_entry",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_permission(request, obj):
            extra_context = {**(extra_context or {}), **self._page(request, obj)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _page(self, request: HttpRequest, obj: ErasureRequest) -> dict[str, Any]:
        """What the request's page shows besides its fields."""
        lineage = selectors.erasure_request_lineage(request=obj)
        link = linker(self, request, obj)
        receipts = selectors.erasure_request_receipts(request=obj)
        runs = list(selectors.target_runs(request=obj))
        keys = list(obj.subject_keys.order_by("id_type", "key").values_list("key", "id_type"))

        def receipt_row(receipt_id: UUID | None) -> dict[str, Any] | None:
            receipt = receipts.get(receipt_id)
            if receipt is None:
                return None
            return {
                "receipt": receipt,
                "payload": selectors.receipt_payload(receipt),
                "download_url": admin_url(
                    self, "erasure_erasurerequest_receipt", obj.pk, receipt.pk
                ),
                "verify_url": admin_url(
                    self, "erasure_erasurerequest_receipt_verify", obj.pk, receipt.pk
                ),
            }

        can_act = request.user.has_perm(ACT_ON_REQUESTS)
        next_states = TRANSITIONS.get(obj.state, frozenset())
        failed = [run for run in runs if run.status == TargetRun.Status.FAILED]
        return {
            "rules": rule_summary(obj.rules, page_url=admin_url(self, "jurisdictions_rules")),
            "timeline": list(obj.transitions.all()),
            "picture": plan_svg(lineage, link=link),
            "plan": [
                {
                    "entry": entry,
                    "explain_url": link("entry", entry.pk),
                    "paths": [
                        [{"version": v, "url": link("version", v.pk)} for v in lineage.path(end)]
                        for end in ends
                    ],
                }
                for entry, ends in lineage.entries
            ],
            "models": [
                {
                    "model": model,
                    "url": link("model", model.model_version_id),
                    "form": ModelDecisionForm(
                        auto_id=False,
                        initial={
                            "model_version": model.model_version_id,
                            "decision": "" if model.decision == "pending" else model.decision,
                            "justification": model.justification,
                        },
                    ),
                }
                for model, _ in lineage.models
            ],
            "runs": [{"run": run, "receipt": receipt_row(run.receipt_id)} for run in runs],
            "closing": receipt_row(obj.closing_receipt_id),
            "subject_keys": [{"key": f"{key[:12]}…", "id_type": id_type} for key, id_type in keys],
            "holds": list(
                LegalHold.objects.filter(subject_key__in=[key for key, _ in keys]).order_by(
                    "-created_at"
                )
            ),
            "can_act": can_act,
            "actions": {
                "approve": can_act and obj.state == State.AWAITING_APPROVAL,
                "deny": can_act and State.DENIED in next_states,
                "hold": can_act and bool(keys),
                "decide": can_act and obj.state not in CLOSED_STATES,
                "retry": can_act and bool(failed) and State.EXECUTING in next_states,
            },
            "failed_count": len(failed),
            "reason_form": ReasonForm(),
            "hold_form": LegalHoldForm(auto_id="hold-%s"),
            "action_urls": {
                name: admin_url(self, f"erasure_erasurerequest_{name}", obj.pk)
                for name in ("approve", "deny", "legal_hold", "model_decision", "retry_failed")
            },
        }


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _deadline_text(deadline: dict[str, Any] | None) -> str:
    if not deadline:
        return ""
    return str(
        Deadline(
            amount=deadline["amount"],
            unit=deadline["unit"],
            business=deadline.get("business", False),
        )
    )


def _deciding(part: dict[str, Any], page_url: str | None) -> list[dict[str, Any]]:
    """The jurisdictions whose rule decided a part, each with its sources and a link to the
    country's rules in the admin (sources are citations; a URL among them becomes a link)."""
    return [
        {
            "country": code,
            "sources": [
                {
                    "text": source,
                    "url": source if source.startswith(("https://", "http://")) else None,
                }
                for source in rule.get("sources", [])
            ],
            "unconfirmed": rule.get("unconfirmed", False),
            "note": rule.get("note"),
            "url": f"{page_url}?country={code}#{code}" if page_url else None,
        }
        for code, rule in (part.get("rules") or {}).items()
    ]


def rule_summary(rules: dict[str, Any], *, page_url: str | None) -> dict[str, Any] | None:
    """The erasure deadline's part of the rules kept when the deadline was set: which
    jurisdictions decided it, on which sources, and whether those are confirmed."""
    if not rules:
        return None
    part = rules.get("erasure_deadline") or {}
    alternative = part.get("strictest_confirmed")
    return {
        "considered": rules.get("considered", []),
        "policy": part.get("from") == "policy",
        "deadline": _deadline_text(part.get("deadline")),
        "due_at": _moment(part.get("due_at")),
        "summary": part.get("summary", ""),
        "unconfirmed": part.get("unconfirmed", False),
        "not_known_for": part.get("not_known_for", []),
        "decided_by": _deciding(part, page_url),
        "alternative": alternative
        and {
            "deadline": _deadline_text(alternative.get("deadline")),
            "due_at": _moment(alternative.get("due_at")),
            "decided_by": _deciding(alternative, page_url),
        },
        "right": rules.get("erasure_right") or {},
        "page_url": page_url,
    }
