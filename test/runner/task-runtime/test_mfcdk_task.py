"""Unit tests of the task runtime's waiting (runner/task-runtime/python/mfcdk_task.py).

Run by metaflow-cdk-py.test.ts: python3 -m unittest, with the module's folder on sys.path.
"""
import unittest
from unittest import mock

import mfcdk_task as mt


class AppearsAfter:
    """A store whose key exists from the n-th look on."""

    url = "s3://bucket/prefix"

    def __init__(self, n):
        self.looks = 0
        self.n = n

    def exists(self, key):
        self.looks += 1
        return self.looks >= self.n


def waiting_task(store):
    # A Task with only what wait_for uses (its constructor reads a container's environment).
    task = mt.Task.__new__(mt.Task)
    task.store = store
    task.stopped = False
    return task


class WaitFor(unittest.TestCase):
    def test_an_input_that_appears_later_is_waited_for(self):
        store = AppearsAfter(3)
        with mock.patch.object(mt.time, "sleep") as sleep:
            waiting_task(store).wait_for("F/r/a/1/status.json", 3600)
        self.assertEqual(store.looks, 3)
        self.assertEqual([c.args[0] for c in sleep.call_args_list], [1, 2])

    def test_a_stop_while_waiting_ends_the_wait_with_the_fetch_failure(self):
        task = waiting_task(AppearsAfter(100))

        def stop(_seconds):
            task.stopped = True

        with mock.patch.object(mt.time, "sleep", side_effect=stop):
            with self.assertRaises(mt.Failure) as caught:
                task.wait_for("F/r/a/1/status.json", 3600)
        self.assertEqual(caught.exception.code, mt.EXIT["fetch_failed"])
        self.assertIn("stopped while waiting for s3://bucket/prefix/F/r/a/1/status.json", str(caught.exception))

    def test_waiting_too_long_is_the_fetch_failure(self):
        with mock.patch.object(mt.time, "sleep"):
            with self.assertRaises(mt.Failure) as caught:
                waiting_task(AppearsAfter(100)).wait_for("k", 3)
        self.assertIn("does not exist after waiting", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
