from django.db import models


class Signup(models.Model):
    """Someone who asked for the newsletter; the welcome e-mail is sent by a worker."""

    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)
    welcome_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.email
