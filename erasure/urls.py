from django.urls import path

from erasure.api import views

app_name = "erasure"

urlpatterns = [
    path("erasure-requests", views.ErasureRequestApi.as_view(), name="requests"),
    path("erasure-requests/<uuid:request_id>", views.ErasureRequestGetApi.as_view(),
         name="request"),
]
