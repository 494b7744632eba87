from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from optiroute import ops_views
from optiroute.schema import SchemaAliasView, SchemaView
from optiroute.signin import ThrottledAdminAuthenticationForm, ThrottledAuthenticationForm

admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/schema", SchemaAliasView.as_view()),
    path("console/", include("registry.urls")),
    path("", include("routing.urls")),
    path("", include("feedback.urls")),
    # End users land in the chat; ML engineers find the console in the top bar.
    path("", RedirectView.as_view(pattern_name="chat", permanent=False)),
]
