"""Reading one field from a JSON object body or a form body, shared by the API views."""

import json


class BadRequest(ValueError):
    """Input the API refuses; the message is safe to show to the client."""


def field_from(request, name):
    """The field from a JSON body ({"name": ...}) or a form body (name=...); None if absent."""
    if request.content_type != "application/json":
        return request.POST.get(name)
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(f'JSON body must be an object such as {{"{name}": ...}}')
    return body.get(name)
