from django.urls import include, path

from routing.batches import api as batches
from routing.chat import views as chat
from routing.gateway import api as gateway

urlpatterns = [
    path("api/v1/route", gateway.RouteView.as_view(), name="route"),
    path("v1/chat/completions", gateway.ChatCompletionsView.as_view(), name="chat-completions"),
    path("v1/models", gateway.ModelsView.as_view(), name="models"),
    path("api/v1/batches", batches.BatchCreateView.as_view(), name="batches"),
    path("api/v1/batches/<uuid:batch_id>", batches.BatchDetailView.as_view(), name="batch"),
    path("api/v1/batches/<uuid:batch_id>/items", batches.BatchItemsView.as_view(), name="batch-items"),
    path("api/v1/batches/<uuid:batch_id>/results", batches.BatchResultsView.as_view(), name="batch-results"),
    path("api/v1/batches/<uuid:batch_id>/confirm", batches.BatchConfirmView.as_view(), name="batch-confirm"),
    path("api/v1/batches/<uuid:batch_id>/cancel", batches.BatchCancelView.as_view(), name="batch-cancel"),
    path("api/v1/batches/<uuid:batch_id>/resume", batches.BatchResumeView.as_view(), name="batch-resume"),
    path("console/", include("routing.console.urls")),
    path("chat/", chat.chat, name="chat"),
    path("chat/c/<int:pk>/", chat.chat, name="chat-conversation"),
    path("chat/c/<int:pk>/rename/", chat.chat_rename, name="chat-rename"),
    path("chat/c/<int:pk>/delete/", chat.chat_delete, name="chat-delete"),
    path("chat/preview/", chat.chat_preview, name="chat-preview"),
    path("chat/stream/", chat.chat_stream_view, name="chat-stream"),
    path("chat/decisions/<uuid:pk>/", chat.chat_decision, name="chat-decision"),
]
