"""Parsing and validation of the task API's input, kept apart from the views."""

import re
import uuid

from api.inputs import BadRequest, field_from

from .tasks import TASK_TYPES

# ASCII digits only (no "٣", "1_0" or "--1" that int() or isdigit() would treat otherwise).
INTEGER_TEXT = re.compile(r"-?[0-9]{1,3}")


def task_type_from(request) -> int:
    """The task type from a JSON body ({"type": 1}) or a form body (type=1)."""
    raw = field_from(request, "type")
    if raw is None:
        raise BadRequest("missing field: type")
    return _checked_type(raw)


def _checked_type(raw) -> int:
    # bool is an int subclass in Python; {"type": true} is not a task type.
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise BadRequest("type must be an integer")
    if isinstance(raw, str):
        text = raw.strip()
        if not INTEGER_TEXT.fullmatch(text):
            raise BadRequest("type must be an integer")
        raw = int(text)
    if raw not in TASK_TYPES:
        raise BadRequest(f"type must be between {TASK_TYPES.start} and {TASK_TYPES.stop - 1}")
    return raw


def checked_task_id(task_id: str) -> str:
    try:
        return str(uuid.UUID(task_id))
    except ValueError:
        raise BadRequest("task id must be a UUID") from None
