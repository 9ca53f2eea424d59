"""Functions that tests run in a child process through ogmbench.sandbox.call."""

import os
import subprocess
import sys


def echo(payload, send):
    for i in range(payload):
        send("step", i)
    return {"pid": os.getpid(), "n": payload}


def exits(payload, send):
    raise SystemExit(payload)


def interrupts(payload, send):
    raise KeyboardInterrupt


def raises(payload, send):
    raise ValueError(f"bad {payload}")


def prints_then_returns(payload, send):
    print(payload)  # no flush: the sandbox flushes before it answers
    return "done"


def starts_a_process_then_dies(payload, send):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(payload, "w") as f:
        f.write(str(child.pid))
    os._exit(0)


class _Evil:
    def __reduce__(self):
        return (sys.exit, (0,))


def sends_code(payload, send):
    send(_Evil(), 1, "m")
    return "never read"


def answers_arrays(payload, send):
    import numpy as np

    return {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float64(2.5),
            "l": [1, "x", (2.0, None)]}
