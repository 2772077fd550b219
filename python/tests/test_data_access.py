"""Data access from Python: env and secret_env reach the Dask processes, and AWS credentials forwarded from this
process's own chain are renewed on the workers while the Cluster object lives.

The data account (a moto server with IAM authentication on, a bucket, a role the user's credential_process
assumes) is started by the runner, test/integration/python-client.test.ts, and described in
$SKIFF_TEST_DATA_ACCOUNT.
"""

from __future__ import annotations

import json
import os
import time
import uuid

from dask.distributed import Client

import skiff
from conftest import alive


def _data_account() -> dict:
    raw = os.environ.get("SKIFF_TEST_DATA_ACCOUNT")
    assert raw, "SKIFF_TEST_DATA_ACCOUNT is not set: run this suite through test/integration/python-client.test.ts"
    return json.loads(raw)


def test_env_secret_env_and_credentials_kept_fresh_while_the_cluster_lives(skiff_home, monkeypatch):
    data = _data_account()
    for k, v in data["clientEnv"].items():
        monkeypatch.setenv(k, v)
    secret = f"py-{uuid.uuid4().hex}"
    monkeypatch.setenv("PY_SECRET", secret)
    # The renewal period, shortened (by default half the credentials' life).
    monkeypatch.setenv("SKIFF_CREDENTIALS_REFRESH_MS", "2000")
    args = (data["endpoint"], data["bucket"], data["object"])

    # Defined here, so Dask sends it by value (the workers cannot import this test module).
    def probe(endpoint: str, bucket: str, key: str) -> dict:
        """On a worker: the variables skiff set, and one read of the object with boto3's own credential chain."""
        import boto3

        session = boto3.session.Session(region_name="us-east-1")
        body = session.client("s3", endpoint_url=endpoint).get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        return {"STAGE": os.environ.get("STAGE"), "PY_SECRET": os.environ.get("PY_SECRET"), "body": body,
                "key": session.get_credentials().get_frozen_credentials().access_key}

    with skiff.Cluster(n_workers=1, env={"STAGE": "py"}, secret_env=["PY_SECRET"], forward_aws_credentials=True) as cluster, \
            Client(cluster) as client:
        first = client.submit(probe, *args, pure=False).result()
        assert first["STAGE"] == "py" and first["PY_SECRET"] == secret
        assert first["body"] == data["body"], "the worker read the object with the forwarded credentials"
        refresher = cluster._refresher
        assert refresher is not None and refresher.poll() is None, "the Cluster renews them while it lives"
        deadline = time.monotonic() + 30
        while client.submit(probe, *args, pure=False).result()["key"] == first["key"]:
            assert time.monotonic() < deadline, "the workers never got fresh credentials"
            time.sleep(1)
    assert not alive(refresher.pid), "closing the Cluster stopped the renewal"


def test_a_bad_variable_name_is_a_value_error_and_creates_nothing(skiff_home):
    try:
        skiff.Cluster(n_workers=1, env={"1X": "2"})
    except skiff.SkiffValueError as e:
        assert "--env name \"1X\" is not valid" in str(e)
    else:
        raise AssertionError("a bad --env name was accepted")
    assert skiff_home.cli_json("list") == []
