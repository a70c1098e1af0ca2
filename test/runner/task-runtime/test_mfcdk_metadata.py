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
