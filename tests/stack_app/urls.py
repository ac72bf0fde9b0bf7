from django.urls import include, path

from .views import request_seen

urlpatterns = [
    path("_test/request-seen/", request_seen),
    path("", include("config.urls")),
]
