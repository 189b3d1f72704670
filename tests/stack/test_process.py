"""Pid files identify a process by pid and start time: ``stop`` never hits a stranger."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from worker.stack import process


def test_stop_ends_the_recorded_process(tmp_path: Path) -> None:
    record = process.spawn(["sleep", "60"], tmp_path / "log", tmp_path / "pid", {})
    assert process.is_running(record)
    assert process.read_pid_file(tmp_path / "pid") == record
    process.stop(record, timeout_s=5)
    assert not process.is_running(record)


def test_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        real_ticks = process.start_ticks(stranger.pid)
        assert real_ticks is not None
        # A pid file left from an earlier process whose pid the stranger now holds.
        impostor = process.ProcessRecord(stranger.pid, real_ticks - 1, "sleep")
        assert not process.is_running(impostor)
        process.stop(impostor, timeout_s=1)
        assert stranger.poll() is None, "a process the stack did not start is left alone"
    finally:
        stranger.kill()
        stranger.wait()


def test_unreadable_pid_file_means_no_record(tmp_path: Path) -> None:
    (tmp_path / "pid").write_text("not json")
    assert process.read_pid_file(tmp_path / "pid") is None
    (tmp_path / "pid").write_text(json.dumps({"pid": 1}))
    assert process.read_pid_file(tmp_path / "pid") is None
    assert process.read_pid_file(tmp_path / "missing") is None
