from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from api.inputs import BadRequest, field_from
from api.responses import json_error, json_only_methods

from . import services
from .models import Signup


@csrf_exempt  # a JSON/form API like POST /tasks/
@json_only_methods("POST")
def create_signup(request):
    try:
        email = field_from(request, "email")
    except BadRequest as error:
        return json_error(400, str(error))
    if not isinstance(email, str):
        return json_error(400, "missing field: email")
    try:
        validate_email(email)
    except ValidationError:
        return json_error(400, "email is not a valid address")
    if len(email) > Signup._meta.get_field("email").max_length:
        return json_error(400, "email is too long")
    try:
        signup = services.create_signup(email)
    except services.WelcomeNotQueued as not_queued:
        # The row is committed; the periodic sweep sends the e-mail once RabbitMQ is back.
        return JsonResponse({"signup_id": not_queued.signup.pk, "email_queued": False}, status=201)
    return JsonResponse({"signup_id": signup.pk, "email_queued": True}, status=201)
