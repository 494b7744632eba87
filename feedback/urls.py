from django.urls import path

from feedback import api

urlpatterns = [
    path("api/v1/feedback", api.FeedbackView.as_view(), name="feedback"),
]
