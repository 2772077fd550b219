"""Bad input is one clear exception carrying skiff's own message and code, and creates nothing."""

from __future__ import annotations

import os

import pytest

import skiff


def created_nothing(home):
    """No broker was started, no cluster recorded, no machine or credentials written."""
    return sorted(os.listdir(home.path)) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"n_workers": -1}, "--workers must be from 0 to 1000; got -1"),
    ({"backend": "gcp"}, 'unknown backend "gcp"; choose one of: local, aws'),
    ({"name": "Bad Name!"}, 'cluster name "Bad Name!" is not valid'),
    ({"frobnicate": 1}, "unknown option --frobnicate for `skiff up`"),
    ({"region": "us-east-1"}, "--region applies to --backend aws only"),
    ({"idle_timeout": "soon"}, "--idle-timeout takes a duration like 90s"),
])
def test_bad_arguments_are_the_clis_own_value_error_and_create_nothing(skiff_home, kwargs, message):
    with pytest.raises(ValueError) as e:
        skiff.Cluster(**kwargs)
    assert isinstance(e.value, skiff.SkiffError)
    assert e.value.code == "CLI_USAGE"
    assert e.value.message.startswith(message), e.value.message
    assert created_nothing(skiff_home)


def test_refusals_of_the_broker_keep_its_code_and_create_no_cluster(skiff_home):
    # The CLI passes this one on; the broker refuses it (EC2 machines cannot reach a loopback broker): a bad value.
    with pytest.raises(skiff.SkiffValueError) as e:
        # (Without AWS credentials to forward the CLI would refuse first: CLI_NO_AWS_CREDENTIALS.)
        skiff.Cluster(backend="aws", forward_aws_credentials=False)
    assert e.value.code == "BRK_BAD_REQUEST"
    assert "cannot reach this broker" in e.value.message
    # An unknown cluster is not found, not a bad value.
    with pytest.raises(skiff.SkiffError) as e:
        skiff.Cluster.from_name("nope")
    assert e.value.code == "BRK_NOT_FOUND"
    assert e.value.message == 'no cluster named or with id "nope"; `skiff list` shows them'
    assert not isinstance(e.value, ValueError)
    assert skiff.list_clusters() == []
    assert not (skiff_home.path / "machines").exists()


def test_without_a_skiff_installation_the_error_says_how_to_install_it(skiff_home, monkeypatch, tmp_path):
    monkeypatch.delenv("SKIFF_CLI")
    monkeypatch.setenv("PATH", str(tmp_path))  # no `skiff` on it
    for attempt in (lambda: skiff.Cluster(n_workers=1), lambda: skiff.Cluster.from_name("x"), skiff.list_clusters):
        with pytest.raises(skiff.SkiffNotInstalled) as e:
            attempt()
        assert isinstance(e.value, skiff.SkiffError) and isinstance(e.value, FileNotFoundError)
        assert "the skiff command-line tool was not found" in e.value.message
        assert "npm link" in e.value.message and "SKIFF_CLI" in e.value.message
    assert created_nothing(skiff_home)


def test_a_skiff_cli_that_points_nowhere_is_named(skiff_home, monkeypatch, tmp_path):
    missing = tmp_path / "skiff" / "dist" / "broker" / "cli" / "main.js"
    monkeypatch.setenv("SKIFF_CLI", f"node {missing}")
    with pytest.raises(skiff.SkiffNotInstalled) as e:
        skiff.Cluster(n_workers=1)
    assert f"{missing} does not exist (was it built?)" in e.value.message
    monkeypatch.setenv("SKIFF_CLI", str(tmp_path / "no-such-skiff"))
    with pytest.raises(skiff.SkiffNotInstalled) as e:
        skiff.list_clusters()
    assert "is not an executable file" in e.value.message
    assert created_nothing(skiff_home)
