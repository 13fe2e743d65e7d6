"""Settings."""

from geo_app import config


def test_an_empty_secret_key_is_made_once_and_shared(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    monkeypatch.delenv("GEO_APP_SECRET_KEY", raising=False)
    first = config.load()["SECRET_KEY"]
    assert len(first) == 64
    assert config.load()["SECRET_KEY"] == first  # another worker, or a restart
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    assert config.load({"SECRET_KEY": "given"})["SECRET_KEY"] == "given"
