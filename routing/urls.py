from django.urls import path

from routing import api

urlpatterns = [
    path("api/v1/route", api.RouteView.as_view(), name="route"),
]
