from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("workflow.urls")),
    path("", include("signups.urls")),
    path("", include("ops.urls")),
    path("admin/", admin.site.urls),
    # GET /metrics: request counts and latencies, summed over gunicorn's processes.
    path("", include("django_prometheus.urls")),
]
