from django.urls import path

from routing import api, views

urlpatterns = [
    path("api/v1/route", api.RouteView.as_view(), name="route"),
    path("v1/chat/completions", api.ChatCompletionsView.as_view(), name="chat-completions"),
    path("v1/models", api.ModelsView.as_view(), name="models"),
    path("api/v1/batches", api.BatchCreateView.as_view(), name="batches"),
    path("api/v1/batches/<uuid:batch_id>", api.BatchDetailView.as_view(), name="batch"),
    path("api/v1/batches/<uuid:batch_id>/results", api.BatchResultsView.as_view(), name="batch-results"),
    path("console/decisions/", views.decision_list, name="decisions"),
    path("console/decisions/<uuid:pk>/", views.decision_detail, name="decision"),
    path("chat/", views.chat, name="chat"),
    path("chat/reset/", views.chat_reset, name="chat-reset"),
]
