from django.urls import path

from consent.api import views

app_name = "consent"

urlpatterns = [
    path("events", views.ConsentEventCreateApi.as_view(), name="event-create"),
    path("events/import", views.ConsentImportApi.as_view(), name="event-import"),
    path("check", views.ConsentCheckApi.as_view(), name="check"),
    path("filter", views.ConsentFilterApi.as_view(), name="filter"),
    path("purposes", views.PurposeApi.as_view(), name="purposes"),
    path("notices", views.NoticeApi.as_view(), name="notices"),
    path("subjects/resolve", views.SubjectResolveApi.as_view(), name="subject-resolve"),
    path("subjects/link", views.SubjectLinkApi.as_view(), name="subject-link"),
    path("subjects/<str:key>", views.SubjectStateApi.as_view(), name="subject-state"),
    path("subjects/<str:key>/history", views.SubjectHistoryApi.as_view(), name="subject-history"),
]
