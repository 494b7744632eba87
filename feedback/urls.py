from django.urls import path

from feedback import api, views

urlpatterns = [
    path("api/v1/feedback", api.FeedbackView.as_view(), name="feedback"),
    path("chat/feedback/<uuid:decision_id>/<str:rating>/", views.chat_feedback, name="chat-feedback"),
]
