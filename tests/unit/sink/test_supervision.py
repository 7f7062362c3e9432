"""DriverSupervisor: crashed drivers start again after a fixed pause; exit 0 ends the
task; the configuration-error code fails it without a restart; stop() ends everything."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from nasaflow.sink.supervision import (
    CONFIG_ERROR_EXIT_CODE,
    DriverConfigurationError,
    DriverStopped,
    DriverSupervisor,
)


class Drivers:
    """Scripted drivers: slot -> exit codes, one per launch; a slot whose script is spent
    runs until killed."""

    def __init__(self, scripts: dict[int, list[int]]) -> None:
        self.scripts = {slot: iter(codes) for slot, codes in scripts.items()}
        self.launches: list[int] = []
        self.killed = threading.Event()

    def launch(self, slot: int) -> int:
        self.launches.append(slot)
        code = next(self.scripts.get(slot, iter(())), None)
        if code is not None:
            return code
        self.killed.wait(30)
        return -9

    def kill_all(self) -> None:
        self.killed.set()


@pytest.fixture()
def supervisor() -> Iterator[DriverSupervisor]:
    yield DriverSupervisor(restart_seconds=0.01, drivers=2)


def test_crashed_drivers_are_started_again_until_one_finishes(supervisor) -> None:
    drivers = Drivers({0: [1, -9, 0]})
    restarts = supervisor.run(drivers.launch, drivers.kill_all)
    assert restarts == 2
    assert drivers.launches.count(0) == 3
    assert drivers.killed.is_set(), "the standby is ended once a driver finished"


def test_configuration_error_fails_without_restart(supervisor) -> None:
    drivers = Drivers({0: [CONFIG_ERROR_EXIT_CODE]})
    with pytest.raises(DriverConfigurationError, match="configuration error"):
        supervisor.run(drivers.launch, drivers.kill_all)
    assert drivers.launches.count(0) == 1


def test_stop_ends_every_driver_and_starts_none(supervisor) -> None:
    drivers = Drivers({})
    threading.Timer(0.2, supervisor.stop).start()
    with pytest.raises(DriverStopped):
        supervisor.run(drivers.launch, drivers.kill_all)
    assert drivers.killed.is_set()
    assert sorted(drivers.launches) == [0, 1]
