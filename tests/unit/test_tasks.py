"""Task bodies called directly, as the seeds test them."""

from unittest.mock import patch

from workflow import tasks


def test_task_type_zero_returns_true():
    assert tasks.create_task.run(0)


@patch("workflow.tasks.time.sleep")
def test_task_sleeps_ten_seconds_per_type(sleep):
    assert tasks.create_task.run(1)
    assert tasks.create_task.run(2)
    assert tasks.create_task.run(3)
    assert [call.args[0] for call in sleep.call_args_list] == [10, 20, 30]


@patch("workflow.tasks.create_task.run")
def test_mock_task(mock_run):
    """The seeds' mock test, made to observe something: what a worker executes for a
    create_task message is the task's body, with the message's arguments, and its return
    value becomes the result."""
    mock_run.return_value = "from the body"
    outcome = tasks.create_task.apply(args=(1,))
    mock_run.assert_called_once_with(1)
    assert (outcome.status, outcome.result) == ("SUCCESS", "from the body")
    mock_run.side_effect = ValueError("body failed")
    assert tasks.create_task.apply(args=(2,)).status == "FAILURE"
    assert mock_run.call_count == 2
