from django.urls import path

from erasure.api import views

app_name = "erasure"

urlpatterns = [
    path("erasure-requests", views.ErasureRequestApi.as_view(), name="requests"),
    path(
        "erasure-requests/<uuid:request_id>", views.ErasureRequestGetApi.as_view(), name="request"
    ),
    path(
        "erasure-requests/<uuid:request_id>/verification",
        views.VerificationStartApi.as_view(),
        name="verification-start",
    ),
    path(
        "erasure-requests/<uuid:request_id>/verification/confirm",
        views.VerificationConfirmApi.as_view(),
        name="verification-confirm",
    ),
    path("erasure-requests/<uuid:request_id>/plan", views.ErasurePlanApi.as_view(), name="plan"),
    path("erasure-requests/<uuid:request_id>/approve", views.ApproveApi.as_view(), name="approve"),
    path("erasure-requests/<uuid:request_id>/deny", views.DenyApi.as_view(), name="deny"),
    path(
        "erasure-requests/<uuid:request_id>/model-decisions",
        views.ModelDecisionApi.as_view(),
        name="model-decisions",
    ),
    path("erasure-requests/<uuid:request_id>/bundle", views.BundleApi.as_view(), name="bundle"),
    path("bundles/<str:token>", views.PublicBundleApi.as_view(), name="public-bundle"),
    path("erasure/legal-holds", views.LegalHoldApi.as_view(), name="legal-holds"),
    path(
        "erasure/callbacks/<int:run_id>",
        views.WebhookCallbackApi.as_view(),
        name="webhook-callback",
    ),
    path(
        "erasure-requests/<uuid:request_id>/verified-manually",
        views.VerifiedManuallyApi.as_view(),
        name="verified-manually",
    ),
]
