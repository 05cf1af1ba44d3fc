"""`--gpus` becomes the DeviceRequest `docker run --gpus` sends (docker/cli opts/gpus.go).

GPU containers cannot run on the CI machine, so the exact request body is checked here instead
(and, against the real engine and CLI, in tests/selftest/test_docker_lifecycle.py).
"""

from __future__ import annotations

import pytest
from docker.types import DeviceRequest

from conformance.server.container import device_request
from conformance.server.presets import PresetError, gpu_request

GPU = [["gpu"]]


def req(**fields: object) -> dict[str, object]:
    return {"Driver": "", "Count": 0, "DeviceIDs": None, "Capabilities": GPU, "Options": {}, **fields}


@pytest.mark.parametrize(("value", "expected"), [
    # docker run --gpus all / --gpus 2: a count, capabilities [["gpu"]], no driver (the engine
    # picks the one offering "gpu"), empty options
    ("all", req(Count=-1)),
    ("1", req(Count=1)),
    ("2", req(Count=2)),
    # our shorthand for docker's --gpus '"device=0,1"'
    ("0,1", req(DeviceIDs=["0", "1"])),
    ("GPU-3a5f0e1c-aaaa-bbbb-cccc-000000000000", req(DeviceIDs=["GPU-3a5f0e1c-aaaa-bbbb-cccc-000000000000"])),
    # docker's own syntax, parsed as gpus.go does
    ('"device=0,2"', req(DeviceIDs=["0", "2"])),
    ("device=1", req(DeviceIDs=["1"])),
    ("count=2", req(Count=2)),
    ("count=all", req(Count=-1)),
    ("driver=nvidia", req(Driver="nvidia", Count=1)),  # no count, no device: count 1
    ("driver=nvidia,count=all", req(Driver="nvidia", Count=-1)),
    ("capabilities=compute", req(Count=1, Capabilities=[["compute", "gpu"]])),
    ('"capabilities=compute,utility",count=all', req(Count=-1, Capabilities=[["compute", "utility", "gpu"]])),
    ('all,"options=a=b,c=d"', req(Count=-1, Options={"a": "b", "c": "d"})),
])
def test_gpus_value_gives_the_device_request_docker_run_sends(value, expected):
    assert gpu_request(value) == expected
    # and goes to the engine unchanged (the SDK's own DeviceRequest would send DeviceIDs [] for null)
    assert dict(device_request(gpu_request(value))) == expected
    assert isinstance(device_request(gpu_request(value)), DeviceRequest)


@pytest.mark.parametrize("value", ["none", "", "0", " none "])
def test_no_gpus(value):
    assert gpu_request(value) is None


@pytest.mark.parametrize("value", ["count=many", "bogus=1", "count=1,count=2", "0,,1", "-2"])
def test_malformed_gpus_value_is_one_clear_error(value):
    with pytest.raises(PresetError, match="--gpus"):
        gpu_request(value)
