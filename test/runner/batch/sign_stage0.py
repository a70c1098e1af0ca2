"""Prints the headers stage0.py's S3 request function signs, for job-shape.test.ts.

Usage: python3 sign_stage0.py STAGE0_PATH  (a JSON request on stdin: method, bucket, key, query,
body, amzDate "YYYYmmddTHHMMSSZ"). The clock is fixed to amzDate and urlopen is replaced by a
stand-in that records the request, so nothing is sent; the credentials come from the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) as in stage 0.
"""
import importlib.util
import json
import sys
import time

spec = importlib.util.spec_from_file_location("stage0", sys.argv[1])
stage0 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stage0)

req = json.load(sys.stdin)
fixed = time.strptime(req["amzDate"], "%Y%m%dT%H%M%SZ")
stage0.time.gmtime = lambda *_args: fixed
seen = {}


def fake_urlopen(request, timeout=None):
    seen["url"] = request.full_url
    seen["method"] = request.get_method()
    seen["headers"] = {k.lower(): v for k, v in request.header_items()}
    return None


stage0.U.urlopen = fake_urlopen
body = req.get("body")
stage0.rq(req["method"], req["bucket"], req["key"], req.get("query", {}), body.encode() if body is not None else None)
print(json.dumps(seen))
