"""Background tasks (what the Slicer widgets use to stay responsive) and step logging."""

from __future__ import annotations

import logging
import time

import pytest

from glymph.errors import GlymphError
from glymph.progress import BackgroundTask, step


def wait(task: BackgroundTask) -> list[str]:
    messages = []
    deadline = time.time() + 10
    while not task.done:
        messages += task.messages()
        assert time.time() < deadline
        time.sleep(0.01)
    return messages + task.messages()


def work(x: int) -> int:
    with step("squaring"):
        time.sleep(0.05)
    return x * x


def test_background_task_reports_progress_and_result(monkeypatch):
    monkeypatch.setattr(logging.getLogger("glymph"), "level", logging.WARNING)
    task = BackgroundTask(work, 7).start()
    messages = wait(task)
    assert task.result == 49 and task.error is None
    assert messages[0] == "squaring ..." and messages[1].startswith("squaring: done in")
    assert task._handler not in logging.getLogger("glymph").handlers


def test_background_task_hands_errors_to_the_caller():
    def fail() -> None:
        raise GlymphError("bad input")

    task = BackgroundTask(fail).start()
    wait(task)
    assert isinstance(task.error, GlymphError) and task.result is None
    with pytest.raises(GlymphError, match="bad input"):
        raise task.error
