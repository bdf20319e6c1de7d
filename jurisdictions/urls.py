from django.urls import path

from jurisdictions.api import views

app_name = "jurisdictions"

urlpatterns = [
    path("jurisdictions", views.JurisdictionListApi.as_view(), name="list"),
    path("jurisdictions/effective", views.JurisdictionEffectiveApi.as_view(), name="effective"),
]
