"""Running a bin in the field: systemd notifications, one agent per database, machine
facts, self-test, calibration and the local status report."""
