from django.urls import path

from feedback import api, views

urlpatterns = [
    path("api/v1/feedback", api.FeedbackView.as_view(), name="feedback"),
    path("feedback/", views.feedback_console, name="feedback-console"),
    path("feedback/reset/", views.feedback_reset_view, name="feedback-reset"),
    path("chat/feedback/<uuid:decision_id>/<str:rating>/", views.chat_feedback, name="chat-feedback"),
]
