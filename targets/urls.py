from django.urls import path

from targets import api, index_api

app_name = "targets"

urlpatterns = [
    path("erasure/targets", api.TargetApi.as_view(), name="targets"),
    path("erasure/targets/<int:target_id>", api.TargetDetailApi.as_view(), name="target"),
    path(
        "erasure/targets/<int:target_id>/approve",
        api.TargetApproveApi.as_view(),
        name="target-approve",
    ),
    path(
        "erasure/targets/<int:target_id>/retire",
        api.TargetRetireApi.as_view(),
        name="target-retire",
    ),
    path(
        "erasure/targets/<int:target_id>/index",
        index_api.TargetIndexApi.as_view(),
        name="target-index",
    ),
]
