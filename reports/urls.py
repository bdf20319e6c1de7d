from django.urls import path

from reports.api import readiness

app_name = "reports"

urlpatterns = [
    path("reports/readiness", readiness.ReadinessReportApi.as_view(), name="readiness"),
    path(
        "reports/readiness/signed",
        readiness.ReadinessReportSignedApi.as_view(),
        name="readiness-signed",
    ),
]
