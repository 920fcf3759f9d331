"""The admin of the day's numbers: one ReportSettings row (added once, then edited, never a
second), and each queue's service-level seconds and target beside its card thresholds."""

from __future__ import annotations

from monitor.history_models import ReportSettings
from tests.web.test_admin import admin_client  # noqa: F401  (the fixture)

URL = "/admin/monitor/reportsettings/"


def test_report_settings_are_one_row_added_once_then_edited(admin_client):  # noqa: F811
    assert admin_client.get(URL + "add/").status_code == 200
    form = {
        "day_starts": "06:00",
        "time_zone": "Europe/Berlin",
        "short_abandon_seconds": "5",
        "keep_days": "90",
    }
    assert admin_client.post(URL + "add/", form).status_code == 302
    row = ReportSettings.objects.get()
    assert (str(row.day_starts), row.time_zone) == ("06:00:00", "Europe/Berlin")
    assert admin_client.get(URL + "add/").status_code == 403  # no second row
    response = admin_client.get(URL)
    assert response.status_code == 302 and response["Location"].endswith(f"/{row.pk}/change/")
    bad = admin_client.post(URL + f"{row.pk}/change/", {**form, "time_zone": "Mars/Olympus"})
    assert b"is not a time zone" in bad.content
    assert admin_client.post(URL + f"{row.pk}/delete/").status_code == 403


def test_queue_thresholds_show_the_service_level_fields(admin_client, pbx):  # noqa: F811
    page = admin_client.get("/admin/monitor/queuethreshold/add/").content.decode()
    assert 'name="sl_seconds"' in page and 'name="sl_target"' in page
    assert "Service level" in page
