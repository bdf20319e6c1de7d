from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.start, name="start"),
    path("delete/", views.deletion_new, name="deletion-new"),
    path("requests/<str:token>/confirm/", views.deletion_confirm, name="deletion-confirm"),
    path("requests/<str:token>/", views.status, name="status"),
    path("requests/<str:token>/receipts.json", views.bundle, name="bundle"),
    path("consents/", views.consent_start, name="consent-start"),
    path("consents/confirm/<str:handle>/", views.consent_confirm, name="consent-confirm"),
    path("consents/mine/", views.consents, name="consents"),
    path("consents/receipts/<uuid:receipt_id>.json", views.consent_receipt, name="consent-receipt"),
    path("consents/leave/", views.consent_leave, name="consent-leave"),
]
