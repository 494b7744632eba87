import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")
application = get_wsgi_application()

from optiroute.tracing import tracing_setup  # noqa: E402  (settings first)

tracing_setup()
