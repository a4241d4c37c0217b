from datetime import timedelta

from tests.conftest import Harness


def test_ongoing_code_becomes_set(server: Harness) -> None:
    seam = server.seam()
    device = seam.devices.list(device_type="august_lock")[0]
    code = seam.access_codes.create(device_id=device.device_id, name="x", code="1234")
    assert code.status == "setting"
    server.settle()
    server.advance(timedelta(seconds=1))
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"
