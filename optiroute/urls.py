from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from optiroute.schema import SchemaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("console/", include("registry.urls")),
    path("", include("routing.urls")),
    path("", include("feedback.urls")),
    path("", RedirectView.as_view(url="/console/", permanent=False)),
]
