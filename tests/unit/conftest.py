import pytest
from django.test import Client


@pytest.fixture
def client():
    """Django's test client speaking as nginx does in production: over HTTPS (tests/run sets
    DJANGO_HTTPS=true, so a plain request would only get Django's redirect)."""
    return Client(headers={"X-Forwarded-Proto": "https"})
