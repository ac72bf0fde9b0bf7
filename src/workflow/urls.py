from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/", views.run_task, name="run_task"),
    path("tasks/<str:task_id>/", views.get_status, name="get_status"),
]
