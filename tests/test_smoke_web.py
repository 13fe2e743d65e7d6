from conftest import SAMPLE_EVENTS


def test_healthz_reports_the_revision(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json["ok"] is True
    assert r.json["revision"] == SAMPLE_EVENTS


def test_unknown_page_is_a_page_not_a_traceback(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert b"Traceback" not in r.data
