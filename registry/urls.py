from django.urls import path

from registry import views

app_name = "registry"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("imports/", views.import_list, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
]
