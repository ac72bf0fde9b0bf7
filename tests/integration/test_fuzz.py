"""Property-based fuzz of the HTTP API through nginx: no input ever gets a 5xx."""

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.stack
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def is_valid_type(value):
    # Valid task types are tested elsewhere; here they would only queue 10-30 s tasks.
    return (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3) or (
        isinstance(value, str) and value.strip() in {"0", "1", "2", "3", "00", "01", "02", "03", "000"}
    )


@FUZZ
@given(body=json_values | st.fixed_dictionaries({"type": json_values}))
def test_json_bodies(stack, body):
    assume(not (isinstance(body, dict) and is_valid_type(body.get("type"))))
    response = requests.post(stack.url + "/tasks/", json=body, timeout=10)
    assert response.status_code == 400, response.text
    assert "error" in response.json()


@FUZZ
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]
    ),
)
def test_raw_bodies(stack, raw, content_type):
    response = requests.post(stack.url + "/tasks/", data=raw, headers={"Content-Type": content_type}, timeout=10)
    if response.status_code == 202:  # the fuzzer found a valid form body such as "type=0"
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])


@FUZZ
@given(task_type=st.text(max_size=12))
def test_form_values(stack, task_type):
    assume(not is_valid_type(task_type))
    response = requests.post(stack.url + "/tasks/", data={"type": task_type}, timeout=10)
    assert response.status_code == 400


@FUZZ
@given(
    task_id=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#"), min_size=1, max_size=40
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
)
def test_status_paths_and_methods(stack, task_id, method):
    response = requests.request(method, f"{stack.url}/tasks/{task_id}/", timeout=10)
    assert response.status_code < 500, (response.status_code, task_id)
