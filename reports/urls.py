from django.urls import path

from reports.api import frameworks, readiness

app_name = "reports"

urlpatterns = [
    path("reports/readiness", readiness.ReadinessReportApi.as_view(), name="readiness"),
    path(
        "reports/readiness/signed",
        readiness.ReadinessReportSignedApi.as_view(),
        name="readiness-signed",
    ),
    path(
        "reports/readiness/aiverify",
        frameworks.ReadinessAiVerifyApi.as_view(),
        name="readiness-aiverify",
    ),
    path(
        "reports/readiness/aiverify/signed",
        frameworks.ReadinessAiVerifySignedApi.as_view(),
        name="readiness-aiverify-signed",
    ),
    path(
        "reports/readiness/frameworks/<str:framework>",
        frameworks.ReadinessFrameworkApi.as_view(),
        name="readiness-framework",
    ),
]
