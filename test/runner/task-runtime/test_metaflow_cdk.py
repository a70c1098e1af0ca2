"""Unit tests of the task helpers (runner/task-runtime/python/metaflow_cdk.py), python3 stdlib only.

Run by metaflow-cdk-py.test.ts: python3 -m unittest, with the module's folder on sys.path.
"""
import json
import os
import shutil
import tempfile
import unittest
from unittest import mock

import metaflow_cdk as mf


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Helpers(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.out = os.path.join(self.root, "F/r1/me/0/attempt-0")
        os.makedirs(self.out)
        self.env = {"MF_DATASTORE_ROOT": self.root, "MF_OUTPUT_DIR": self.out}
        self.addCleanup(shutil.rmtree, self.root)

    def patch(self, **extra):
        env = dict(self.env, **extra)
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)

    def task(self, path, outputs=None, ancestors=None):
        if outputs is not None:
            write(os.path.join(self.root, path, "outputs.json"), json.dumps(outputs))
        if ancestors is not None:
            write(os.path.join(self.root, path, mf.ANCESTORS_FILE), json.dumps(ancestors))

    def test_parent_and_inputs(self):
        self.task("F/r1/a/0", {"x": 1})
        self.patch(MF_INPUT_PATHS="F/r1/a/0")
        self.assertEqual(mf.parent(), {"x": 1})
        self.assertEqual(mf.parent_dir(), os.path.join(self.root, "F/r1/a/0"))
        self.assertEqual(mf.inputs(), [{"x": 1}])

    def test_a_wide_join_reads_its_inputs_from_the_file(self):
        for i in range(3):
            self.task("F/r1/b/%d" % i, {"i": i})
        self.task("F/r1/b/3")  # saved nothing
        write(os.path.join(self.root, "F/r1/j/0/input-paths.txt"), "".join("F/r1/b/%d\n" % i for i in range(4)))
        self.patch(MF_INPUT_PATHS_FILE="F/r1/j/0/input-paths.txt")
        self.assertEqual(mf.inputs(), [{"i": 0}, {"i": 1}, {"i": 2}, {}])
        with self.assertRaisesRegex(RuntimeError, r"parent\(\): this task has 4 inputs \(F/r1/b/0, F/r1/b/1"):
            mf.parent()

    def test_start_has_no_parent(self):
        self.patch()
        with self.assertRaisesRegex(RuntimeError, r"this task has 0 inputs \(none\)"):
            mf.parent()

    def test_item_decodes_json_and_keeps_text(self):
        for text, value in [("3", 3), ("0.5", 0.5), ('{"lr": 0.1}', {"lr": 0.1}), ("[1, 2]", [1, 2]), ("abc", "abc"), ('"q"', '"q"'), ("null", None)]:
            self.patch(MF_FOREACH_ITEM=text)
            self.assertEqual(mf.item(), value, text)

    def test_a_string_item_stays_text(self):
        for text in ["007", "3", "true", "[1]"]:
            self.patch(MF_FOREACH_ITEM=text, MF_FOREACH_ITEM_TEXT="1")
            self.assertEqual(mf.item(), text)

    def test_a_long_item_comes_from_its_file(self):
        long = {"text": "x" * 5000}
        write(os.path.join(self.root, "F/r1/s/0/foreach-item-2.json"), json.dumps(long))
        self.patch(MF_FOREACH_ITEM_FILE="F/r1/s/0/foreach-item-2.json")
        self.assertEqual(mf.item(), long)

    def test_item_outside_a_foreach(self):
        self.patch()
        with self.assertRaisesRegex(RuntimeError, "not in a foreach"):
            mf.item()

    def test_params(self):
        self.patch(MF_PARAM_ROWS="200", MF_PARAM_NAME="Ada", MF_PARAM_RATES="[0.1, 0.01]", MF_FLOW="F")
        self.assertEqual(mf.params(), {"rows": 200, "name": "Ada", "rates": [0.1, 0.01]})

    def test_string_params_stay_text(self):
        self.patch(MF_PARAM_ROWS="200", MF_PARAM_NAME="007", MF_PARAM_FLAG="true", MF_TEXT_PARAMS="name,Flag")
        self.assertEqual(mf.params(), {"rows": 200, "name": "007", "flag": "true"})

    def test_save_merges_and_refuses_what_json_cannot_hold(self):
        self.patch()
        mf.save(a=1, b="two")
        self.assertEqual(mf.save(b=2, c=[3]), {"a": 1, "b": 2, "c": [3]})
        with open(os.path.join(self.out, "outputs.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f), {"a": 1, "b": 2, "c": [3]})
        with self.assertRaisesRegex(TypeError, r"save\(model=...\): not JSON-serializable .*output_path\('model'\)"):
            mf.save(model=object())
        with open(mf.output_path("plots/loss.txt"), "w") as f:
            f.write("ok")
        self.assertTrue(os.path.isfile(os.path.join(self.out, "plots/loss.txt")))

    def test_caught_inline_and_from_its_file(self):
        failure = {"step": "s", "taskId": "0", "exitCode": 3}
        self.patch(MF_CAUGHT=json.dumps({"err": failure, "other": None}))
        self.assertEqual(mf.caught("err"), failure)
        self.assertIsNone(mf.caught("other"))
        write(os.path.join(self.root, "F/r1/s/groups/g/caught.json"), json.dumps({"err": [failure]}))
        self.patch(MF_CAUGHT_FILE="F/r1/s/groups/g/caught.json")
        self.assertEqual(mf.caught(), {"err": [failure]})
        self.patch()
        self.assertEqual(mf.caught(), {})

    def test_ancestors_flow_down_and_the_lineage_is_left_for_the_next_step(self):
        self.task("F/r1/b/0", {"model": "m"}, {"start": {"rows": 9}, "a": {"x": 1}})
        self.patch(MF_INPUT_PATHS="F/r1/b/0")
        self.assertEqual(mf.ancestor("start"), {"rows": 9})
        self.assertEqual(mf.ancestor("b"), {"model": "m"})
        with self.assertRaisesRegex(KeyError, r"ancestor\('nope'\): no such step above this one \(steps above it: a, b, start\)"):
            mf.ancestor("nope")
        mf._leave_lineage()
        with open(os.path.join(self.out, mf.ANCESTORS_FILE), encoding="utf-8") as f:
            self.assertEqual(json.load(f), {"start": {"rows": 9}, "a": {"x": 1}, "b": {"model": "m"}})

    def test_a_step_with_several_tasks_above_is_ambiguous(self):
        self.task("F/r1/each/0", {"i": 0}, {"start": {"n": 2}})
        self.task("F/r1/each/1", {"i": 1}, {"start": {"n": 2}})
        self.patch(MF_INPUT_PATHS="F/r1/each/0,F/r1/each/1")
        self.assertEqual(mf.ancestor("start"), {"n": 2})
        with self.assertRaisesRegex(KeyError, r"several tasks of that step are above this one"):
            mf.ancestor("each")


if __name__ == "__main__":
    unittest.main()
