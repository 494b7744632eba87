from django.urls import path

from registry import views

app_name = "registry"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("models/new/", views.model_create, name="model-create"),
    path("models/<int:pk>/", views.model_edit, name="model"),
    path("models/<int:pk>/deactivate/", views.model_deactivate, name="model-deactivate"),
    path("providers/new/", views.provider_create, name="provider-create"),
    path("providers/<int:pk>/", views.provider_edit, name="provider"),
    path("imports/", views.import_list, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
]
