from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("workflow.urls")),
    path("", include("signups.urls")),
    path("", include("ops.urls")),
    path("admin/", admin.site.urls),
]
