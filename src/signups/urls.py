from django.urls import path

from . import views

urlpatterns = [path("signups/", views.create_signup, name="create_signup")]
