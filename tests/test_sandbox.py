"""ogmbench.sandbox: one call in a child process that can always be stopped."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ogmbench import sandbox
from ogmbench.errors import RunFailure

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="POSIX only")


def test_messages_arrive_in_order_then_the_answer_from_another_process():
    seen = []
    answer = sandbox.call("sandbox_targets:echo", 3, lambda *m: seen.append(m))
    assert seen == [("step", 0), ("step", 1), ("step", 2)]
    assert answer["n"] == 3 and answer["pid"] != os.getpid()


def test_an_exception_comes_back_and_a_systemexit_never_ends_this_process():
    with pytest.raises(ValueError, match="bad 7"):
        sandbox.call("sandbox_targets:raises", 7)
    with pytest.raises(RunFailure, match="raised SystemExit: 3"):
        sandbox.call("sandbox_targets:exits", 3)
    with pytest.raises(RunFailure, match="raised KeyboardInterrupt"):
        sandbox.call("sandbox_targets:interrupts", None)


def test_a_child_that_dies_is_reported_with_its_status_and_its_processes_are_killed(tmp_path):
    pid_file = tmp_path / "pid"
    with pytest.raises(sandbox.ChildDied, match="exit status 0"):
        sandbox.call("sandbox_targets:starts_a_process_then_dies", str(pid_file))
    pid = int(pid_file.read_text())
    for _ in range(50):  # killed, then reaped by whoever inherited it
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().split(")")[-1].split()[0] in ("Z", "X"):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"process {pid} started by the child still runs")


def test_the_childs_output_is_flushed_before_its_answer_when_piped(tmp_path):
    # A fresh interpreter with buffered (piped) output, as under a log file or CI.
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from ogmbench import sandbox\n"
            "print(sandbox.call('sandbox_targets:prints_then_returns', 'hello from the child'))\n"
            % str(Path(__file__).parent))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello from the child", "done"]


def test_what_a_child_sends_cannot_run_code_here_but_plain_data_arrives():
    with pytest.raises(TypeError, match="_Evil is not plain data"):
        sandbox.call("sandbox_targets:sends_code", None)
    answer = sandbox.call("sandbox_targets:answers_arrays", None)
    assert answer["a"].dtype.name == "float32" and answer["a"].shape == (2, 3)
    assert answer["s"] == 2.5 and answer["l"] == [1, "x", [2.0, None]]  # JSON: lists


@pytest.mark.parametrize("attack", ["pickle_exec", "pickle_memory", "not_a_frame",
                                    "unknown_kind", "message_of_wrong_shape",
                                    "object_array", "its_own_store_error"])
def test_raw_frames_from_a_child_are_plain_data_or_refused(attack, tmp_path):
    # A plugin can write to its socket directly: nothing it writes runs code here, takes
    # this process's memory, or passes for this run's own error.
    mark = tmp_path / "ran-here"
    with pytest.raises(Exception) as info:
        sandbox.call("sandbox_targets:raw_frame", {"attack": attack, "mark": str(mark)},
                     on_message=lambda *args: None)
    assert not mark.exists()
    assert getattr(info.value, "from_child", False) or isinstance(info.value, sandbox.Malformed)
    assert len(str(info.value)) < 3000
