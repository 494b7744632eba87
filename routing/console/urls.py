from django.urls import path

from routing.batches.export import RESULT_FORMATS
from routing.console import batches, views

urlpatterns = [
    path("overview/", views.overview, name="overview"),
    path("decisions/", views.decision_list, name="decisions"),
    path("decisions.csv", views.decision_export, name="decisions-export"),
    path("decisions/<uuid:pk>/", views.decision_detail, name="decision"),
    path("cohorts/", views.cohort_list, name="cohorts"),
    path("cohorts/new/", views.cohort_create, name="cohort-create"),
    path("cohorts/<int:pk>/", views.cohort_edit, name="cohort"),
    path("cohorts/<int:pk>/keys/", views.cohort_key_create, name="cohort-key-create"),
    path("keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("models/<int:pk>/test-call/", views.model_test_call, name="model-test-call"),
    path("profiles/", views.profile_list, name="profiles"),
    path("profiles/<int:pk>/", views.profile_edit, name="profile"),
    path("batches/", batches.batch_list, name="console-batches"),
    path("batches/<uuid:pk>/", batches.batch_detail, name="console-batch"),
    *(path(f"batches/<uuid:pk>/{action}/", batches.batch_action, {"action": action},
           name=f"console-batch-{action}") for action in batches.ACTIONS),
    *(path(f"batches/<uuid:pk>/results.{kind}", batches.batch_download, {"kind": kind},
           name=f"console-batch-{kind}") for kind in RESULT_FORMATS),
    path("profiles/<int:pk>/evaluate/", views.profile_evaluate, name="profile-evaluate"),
    path("evaluations/", views.evaluation_list, name="evaluations"),
    path("evaluations/compare/", views.evaluation_compare, name="evaluation-compare"),
    path("evaluations/<int:pk>/", views.evaluation_detail, name="evaluation"),
    path("datasets/", views.dataset_list, name="datasets"),
]
