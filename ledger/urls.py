from django.urls import path

from ledger.api import views

app_name = "ledger"

urlpatterns = [
    path("ledger/checkpoint", views.CheckpointApi.as_view(), name="checkpoint"),
    path("ledger/key", views.VerifierKeyApi.as_view(), name="key"),
    path("ledger/keys", views.KeysApi.as_view(), name="keys"),
    path("ledger/proof/inclusion", views.InclusionProofApi.as_view(), name="inclusion"),
    path("ledger/proof/consistency", views.ConsistencyProofApi.as_view(), name="consistency"),
    path("ledger/leaves", views.LeavesApi.as_view(), name="leaves"),
    path("receipts/<uuid:receipt_id>", views.ReceiptGetApi.as_view(), name="receipt"),
]
