"""Unit tests of the task runtime's registration (runner/task-runtime/python/mfcdk_metadata.py),
python3 stdlib only; the whole path against the real service is test/runner/metadata/sfn.test.ts.

Run by metaflow-cdk-py.test.ts: python3 -m unittest, with the module's folder on sys.path.
"""
import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import re
import shutil
import tempfile
import threading
import time
import unittest
from unittest import mock

import mfcdk_metadata as md

# Metaflow's MFLOG line parser (metaflow/mflog/mflog.py RE), to check our lines against.
MFLOG_RE = re.compile(rb"(\[!)?\[MFLOG\|(0)\|(.+?)Z\|(.+?)\|(.+?)\](.*)")


class FakeStore:
    url = "s3://bucket/prefix"

    def __init__(self):
        self.objects = {}

    def exists(self, key):
        return key in self.objects

    def put(self, key, body):
        self.objects[key] = body


def serve(answer):
    """A local HTTP server answering every GET with `answer` (JSON); its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d/v4/abc" % server.server_address[1]


class FakeService(http.server.BaseHTTPRequestHandler):
    """Answers creates as metaflow-service v2.5.1 does (409 when the object exists; a task of a
    missing step 404, of a missing run 500 ``'run_number'``; a run of a missing flow 404) and
    records every request as (path, body)."""

    calls = []
    objects = set()

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])) or b"null")
        FakeService.calls.append((self.path, body))
        p = self.path.strip("/").split("/")  # flows F [run | runs R [steps S (step | task | tasks T ...)]]
        created = parent = None
        if len(p) == 2:
            created = p[1]
        elif len(p) == 3 and p[2] == "run":
            created, parent = "%s/%s" % (p[1], body["run_number"]), p[1]
        elif len(p) == 7 and p[6] == "step":
            created, parent = "%s/%s/%s" % (p[1], p[3], p[5]), "%s/%s" % (p[1], p[3])
        elif len(p) == 7 and p[6] == "task":
            created, parent = "%s/%s/%s/%s" % (p[1], p[3], p[5], body["task_id"]), "%s/%s/%s" % (p[1], p[3], p[5])
        status, answer = 200, {}
        if created is not None:
            run = "/".join(created.split("/")[:2])
            if created.count("/") >= 2 and run not in FakeService.objects:
                status, answer = 500, {"detail": "'run_number'"}
            elif parent is not None and parent not in FakeService.objects:
                status = 404
            elif created in FakeService.objects:
                status = 409
            else:
                FakeService.objects.add(created)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def last_body(suffix):
    """The body of the last request to a path ending with suffix."""
    return [body for path, body in FakeService.calls if path.endswith(suffix)][-1]


ENV = {"MF_METADATA_REGISTER": "1", "METAFLOW_SERVICE_URL": "http://127.0.0.1:9", "MF_FLOW": "F", "MF_RUN_ID": "sfn-1", "MF_STEP": "train"}


class Registration(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.work)

    def test_only_compiled_jobs_with_a_service_and_a_non_numeric_run_register(self):
        self.assertIsNotNone(md.Registration.from_env(ENV, FakeStore(), "0", self.work, self.work))
        self.assertIsNone(md.Registration.from_env(dict(ENV, MF_METADATA_REGISTER="0"), FakeStore(), "0", self.work, self.work))
        self.assertIsNone(md.Registration.from_env(dict(ENV, METAFLOW_SERVICE_URL=""), FakeStore(), "0", self.work, self.work))
        with mock.patch("sys.stderr", new=io.StringIO()) as err:
            self.assertIsNone(md.Registration.from_env(dict(ENV, MF_RUN_ID="123"), FakeStore(), "0", self.work, self.work))
        self.assertEqual(err.getvalue(), "metaflow-cdk: warning: run id 123 is numeric, which the metadata service refuses; this run is not registered\n")

    def test_batch_metadata_from_the_environment_and_the_ecs_endpoint(self):
        server, url = serve({"LogOptions": {"awslogs-group": "/aws/batch/job", "awslogs-region": "us-east-1", "awslogs-stream": "def/default/abc"}})
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        env = {"AWS_BATCH_JOB_ID": "j-1:2", "AWS_BATCH_JOB_ATTEMPT": "2", "AWS_BATCH_CE_NAME": "ce", "AWS_BATCH_JQ_NAME": "q", "ECS_CONTAINER_METADATA_URI_V4": url}
        self.assertEqual(md.batch_metadata(env), {
            "aws-batch-job-id": "j-1:2", "aws-batch-job-attempt": "2", "aws-batch-ce-name": "ce", "aws-batch-jq-name": "q",
            "aws-batch-awslogs-group": "/aws/batch/job", "aws-batch-awslogs-region": "us-east-1", "aws-batch-awslogs-stream": "def/default/abc"})
        # An endpoint that does not answer costs nothing but the log's place.
        self.assertEqual(md.batch_metadata({"AWS_BATCH_JOB_ID": "j", "ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:9/v4"}), {"aws-batch-job-id": "j"})

    def test_artifacts_are_metaflow_blobs_stored_once(self):
        store = FakeStore()
        reg = md.Registration.from_env(ENV, store, "3_1", self.work, self.work)
        described = reg._artifacts("train", "t-3_1", 0, {"loss": 0.25, "ok": True})
        blob = pickle.dumps(0.25, protocol=4)
        sha = hashlib.sha1(blob).hexdigest()
        self.assertEqual(pickle.loads(gzip.decompress(store.objects["F/data/%s/%s" % (sha[:2], sha)])), 0.25)
        self.assertEqual(described[0], {"flow_id": "F", "run_number": "sfn-1", "step_name": "train", "task_id": "t-3_1", "attempt_id": 0, "name": "loss",
                                        "content_type": "gzip+pickle-v4", "type": "metaflow.artifact", "sha": sha, "ds_type": "s3",
                                        "location": ":root:s3://bucket/prefix", "user_name": "unknown", "tags": [],
                                        "system_tags": ["user:unknown", "runtime:metaflow-cdk", "metaflow_version:" + md.METAFLOW_FORMAT_VERSION]})
        store.put = mock.Mock()
        reg._artifacts("train", "t-3_2", 0, {"loss": 0.25})
        store.put.assert_not_called()

    def fake_service(self):
        FakeService.calls, FakeService.objects = [], set()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return dict(ENV, METAFLOW_SERVICE_URL="http://127.0.0.1:%d" % server.server_address[1])

    def outputs(self, values):
        with open(os.path.join(self.work, "outputs.json"), "w") as f:
            json.dump(values, f)
        return self.work

    def test_the_task_is_created_first_and_its_run_and_step_only_when_missing(self):
        env = self.fake_service()
        first = md.Registration.from_env(env, FakeStore(), "0", self.work, self.work)
        first.start()
        first.finish(True, self.outputs({"loss": 1}))
        paths = [c[0] for c in FakeService.calls]
        run = "/flows/F/runs/sfn-1"
        # The first task of a run: its task answers 500 (no run), then the chain; 4 calls more than a task of a registered step.
        # An attempt shorter than START_DEFER_SECONDS sends its start with its end.
        # The end's artifact and metadata calls go in parallel (either may come first).
        self.assertEqual(paths[:5] + sorted(paths[5:]), [run + "/steps/train/task", "/flows/F", "/flows/F/run", run + "/steps/train/step", run + "/steps/train/task",
                                                        run + "/steps/train/tasks/t-0/artifact", run + "/steps/train/tasks/t-0/metadata"])
        self.assertEqual([m["field_name"] for m in last_body("/metadata")], ["attempt", "ds-type", "ds-root", "attempt-done", "attempt_ok"])
        FakeService.calls = []
        second = md.Registration.from_env(env, FakeStore(), "1", self.work, self.work)
        second.start()
        second.finish(True, self.outputs({"loss": 2}))
        self.assertEqual(sorted(c[0] for c in FakeService.calls), [run + "/steps/train/task", run + "/steps/train/tasks/t-1/artifact", run + "/steps/train/tasks/t-1/metadata"])
        self.assertEqual(second.calls, {"task": 1, "metadata": 1, "artifact": 1})
        # A longer attempt: its start when it has run START_DEFER_SECONDS, then a heartbeat at once and every 10 s.
        FakeService.calls = []
        with mock.patch.object(md, "START_DEFER_SECONDS", 0.01):
            longer = md.Registration.from_env(env, FakeStore(), "2", self.work, self.work)
            longer.start()
            longer.starting.join(5)
            for _ in range(500):  # the first heartbeat, at once (wait on it, not on time)
                if any(c[0].endswith("/heartbeat") for c in FakeService.calls):
                    break
                time.sleep(0.01)
        longer.finish(True, self.outputs({"loss": 3}))
        t2 = run + "/steps/train/tasks/t-2"
        paths = [c[0] for c in FakeService.calls]
        self.assertEqual(paths[:3] + sorted(paths[3:]), [run + "/steps/train/task", t2 + "/metadata", t2 + "/heartbeat", t2 + "/artifact", t2 + "/metadata"])
        self.assertEqual([m["field_name"] for m in last_body("/metadata")], ["attempt-done", "attempt_ok"])
        # A task of a step the service does not have yet (404): the step, then the task.
        FakeService.calls = []
        third = md.Registration.from_env(dict(env, MF_STEP="score"), FakeStore(), "0", self.work, self.work)
        third.start()
        third.finish(True, self.outputs({}))
        self.assertEqual([c[0] for c in FakeService.calls][:3], [run + "/steps/score/task", run + "/steps/score/step", run + "/steps/score/task"])

    def test_each_attempt_in_the_container_is_registered_with_its_own_logs_and_end(self):
        env = self.fake_service()
        store = FakeStore()
        reg = md.Registration.from_env(env, store, "2", self.work, self.work)
        reg.start()
        for n, text in ((0, b"try 0\n"), (1, b"try 1\n")):
            if n:
                reg.retry(n)
            with open(reg.log_path(n, "stdout"), "wb") as f:
                f.write(md._mflog(text))
        reg.finish(True, self.outputs({"square": 4}))
        metadata = [item for path, body in FakeService.calls if path.endswith("/metadata") for item in body]
        fields = [(m["field_name"], m["value"], m["tags"]) for m in metadata if m["field_name"] not in ("ds-type", "ds-root")]
        self.assertEqual(fields, [("attempt", "0", ["attempt_id:0"]), ("attempt-done", "0", ["attempt_id:0"]), ("attempt_ok", "False", ["attempt_id:0"]),
                                  ("attempt", "1", ["attempt_id:1"]), ("attempt-done", "1", ["attempt_id:1"]), ("attempt_ok", "True", ["attempt_id:1"])])
        self.assertEqual(sorted(k for k in store.objects if not k.startswith("F/data/")), ["F/sfn-1/train/t-2/0.task_stdout.log", "F/sfn-1/train/t-2/1.task_stdout.log"])
        self.assertTrue(store.objects["F/sfn-1/train/t-2/1.task_stdout.log"].endswith(b"]try 1\n"))
        artifacts = [a for path, body in FakeService.calls if path.endswith("/artifact") for a in body]
        self.assertEqual(sorted((a["name"], a["attempt_id"]) for a in artifacts), [("_success", 1), ("_task_ok", 1), ("name", 1), ("square", 1)])

    def test_a_caught_failure_is_its_catch_var_artifact_and_caught_metadata(self):
        env = self.fake_service()
        store = FakeStore()
        reg = md.Registration.from_env(env, store, "0", self.work, self.work)
        reg.start()
        failure = {"step": "train", "taskId": "0", "message": "step train/0 failed: exit code 3", "exitCode": 3, "statusReason": "failed", "attempts": 1}
        reg.finish(False, self.work, {"var": "train_failed", "failure": failure})
        artifacts = {a["name"]: a for path, body in FakeService.calls if path.endswith("/artifact") for a in body}
        self.assertEqual(sorted(artifacts), ["_success", "_task_ok", "name", "train_failed"])
        sha = artifacts["train_failed"]["sha"]
        self.assertEqual(pickle.loads(gzip.decompress(store.objects["F/data/%s/%s" % (sha[:2], sha)])), failure)
        end = [m for m in last_body("/metadata") if m["field_name"] not in ("attempt", "ds-type", "ds-root")]
        self.assertEqual([(m["field_name"], m["value"]) for m in end], [("attempt-done", "0"), ("attempt_ok", "False"), ("caught", "step train/0 failed: exit code 3")])

    def test_a_task_the_state_machine_caught_is_registered_once_by_its_successor(self):
        env = self.fake_service()
        failure = {"step": "train", "taskId": "0", "message": "step train/0 failed: States.TaskFailed", "exitCode": None, "statusReason": "States.TaskFailed", "attempts": 2}
        # Never registered (its job died before its runtime's start got through): the task, its last attempt's start and end, the artifacts.
        reg = md.Registration.from_env(dict(env, MF_STEP="end"), FakeStore(), "0", self.work, self.work)
        reg.register_caught([("train", "0", "train_failed", failure)])
        reg.finish(True, self.outputs({}))
        path = "/flows/F/runs/sfn-1/steps/train/tasks/t-0"
        posted = [b for p, b in FakeService.calls if p == path + "/metadata"]
        self.assertEqual([[(m["field_name"], m["tags"]) for m in body if m["field_name"] not in ("ds-type", "ds-root")] for body in posted],
                         [[("attempt", ["attempt_id:1"]), ("attempt-done", ["attempt_id:1"]), ("attempt_ok", ["attempt_id:1"]), ("caught", ["attempt_id:1"])]])
        artifacts = [(a["name"], a["attempt_id"]) for p, b in FakeService.calls if p == path + "/artifact" for a in b]
        self.assertEqual(sorted(artifacts), [("_success", 1), ("_task_ok", 1), ("name", 1), ("train_failed", 1)])
        self.assertIsNone(reg.problem)

        # Registered by its own runtime up to its start (409): what the service has is read first and not sent again.
        class Listed(FakeService):
            def do_GET(self):  # noqa: N802
                FakeService.calls.append((self.path, None))
                data = json.dumps([{"field_name": "attempt", "value": "1", "tags": ["attempt_id:1"]}]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(data)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listed)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        FakeService.calls = []
        again = md.Registration.from_env(dict(env, MF_STEP="end", METAFLOW_SERVICE_URL="http://127.0.0.1:%d" % server.server_address[1]), FakeStore(), "0", self.work, self.work)
        again.register_caught([("train", "0", "train_failed", failure)])
        again.finish(True, self.outputs({}))
        posted = [b for p, b in FakeService.calls if p == path + "/metadata" and b is not None]
        self.assertEqual([[m["field_name"] for m in body] for body in posted], [["attempt-done", "attempt_ok", "caught"]])
        self.assertIn((path + "/metadata", None), FakeService.calls)

    def test_mflog_lines_parse_as_metaflow_reads_them(self):
        line = md._mflog(b"hello world\n")
        match = MFLOG_RE.match(line.rstrip(b"\n"))
        self.assertEqual((match.group(4), match.group(6)), (b"task", b"hello world"))
        self.assertRegex(match.group(3).decode(), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")

    def test_a_service_that_does_not_answer_is_one_line_and_never_raises(self):
        reg = md.Registration.from_env(ENV, FakeStore(), "0", self.work, self.work)
        with mock.patch("time.sleep"), mock.patch("sys.stderr", new=io.StringIO()) as err:
            reg.start()
            reg.finish(True, self.work)
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], r"^metaflow-cdk: warning: the metadata service at http://127.0.0.1:9 did not answer POST /flows/F .*; F/sfn-1/train/t-0 is not fully registered there \(the task goes on\)$")

    def test_a_refused_key_stops_at_once(self):
        class Forbidden(http.server.BaseHTTPRequestHandler):
            calls = 0

            def do_POST(self):  # noqa: N802
                Forbidden.calls += 1
                self.send_response(403)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Forbidden)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        env = dict(ENV, METAFLOW_SERVICE_URL="http://127.0.0.1:%d" % server.server_address[1])
        reg = md.Registration.from_env(env, FakeStore(), "0", self.work, self.work)
        with mock.patch("sys.stderr", new=io.StringIO()) as err:
            reg.start()
            reg.finish(True, self.work)
        self.assertEqual(Forbidden.calls, 1)
        self.assertIn("refused the API key (403): check METAFLOW_SERVICE_AUTH_KEY", err.getvalue())
        self.assertEqual(len(err.getvalue().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
