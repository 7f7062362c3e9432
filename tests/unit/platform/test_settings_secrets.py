"""Settings keep secrets out of logs and describe the test suite's isolated copies."""

from __future__ import annotations

import pytest

from nasaflow.settings import Settings, env_name, isolated_for_tests

PLATFORM = Settings(
    db_url="postgresql://nasaflow_writer:writer-secret@127.0.0.1:5432/nasaflow",
    db_owner_url="postgresql://nasaflow:owner-secret@127.0.0.1:5432/nasaflow",
    db_reader_url="postgresql://nasaflow_reader:reader-secret@127.0.0.1:5432/nasaflow",
    apod_api_key="apod-secret-key", kafka_topic="image-parameters", data_dir="/srv/data",
    checkpoint_dir="/srv/checkpoints")


def test_repr_and_str_hide_database_passwords_and_the_api_key() -> None:
    for shown in (repr(PLATFORM), str(PLATFORM), f"{PLATFORM}"):
        for secret in ("writer-secret", "owner-secret", "reader-secret", "apod-secret-key"):
            assert secret not in shown
        assert "postgresql://nasaflow_writer:***@127.0.0.1:5432/nasaflow" in shown
        assert "apod_api_key='***'" in shown


def test_the_test_twin_renames_every_place_that_holds_data() -> None:
    twin = isolated_for_tests(PLATFORM)
    assert twin.db_url == "postgresql://nasaflow_writer:writer-secret@127.0.0.1:5432/nasaflow_test"
    assert twin.db_owner_url.endswith("@127.0.0.1:5432/nasaflow_test")
    assert twin.db_reader_url.endswith("@127.0.0.1:5432/nasaflow_test")
    assert (twin.kafka_topic, twin.data_dir, twin.checkpoint_dir) == (
        "image-parameters_test", "/srv/data_test", "/srv/checkpoints_test")
    assert twin.kafka_bootstrap == PLATFORM.kafka_bootstrap


def test_to_env_reads_back_as_the_same_settings() -> None:
    assert Settings.from_env(PLATFORM.to_env()) == PLATFORM


def test_a_settings_variable_is_named_from_its_field_and_a_typo_fails() -> None:
    assert env_name("store_secret_key") == "NASAFLOW_STORE_SECRET_KEY"
    assert Settings.from_env({env_name("kafka_topic"): "t"}).kafka_topic == "t"
    with pytest.raises(KeyError, match="store_secret"):
        env_name("store_secret")
