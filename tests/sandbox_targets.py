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


def raw_frame(payload, send):
    """Write to the socket past the sandbox's encoder, as a hostile plugin can."""
    import json
    import pickle
    import struct

    import numpy as np

    conn = send._conn
    attack = payload["attack"]
    if attack == "pickle_exec":  # would write the mark in the parent if unpickled
        code = f"open({payload['mark']!r}, 'w').write('x')"
        conn.send_bytes(pickle.dumps(("message", (exec, code))))
    elif attack == "pickle_memory":
        conn.send_bytes(b"\x80\x02cbuiltins\nlist\ncbuiltins\nrange\nJ\x00\xca\x9a;\x85R\x85R.")
    elif attack == "not_a_frame":
        conn.send_bytes(b"\xff" * 64)
    elif attack in ("unknown_kind", "message_of_wrong_shape"):
        header = (json.dumps({"kind": "exec", "value": 1}) if attack == "unknown_kind"
                  else json.dumps({"kind": "message", "value": 5})).encode()
        conn.send_bytes(struct.pack("<Q", len(header)) + header)
    elif attack == "object_array":
        header = json.dumps({"kind": "returned", "value": {"__array__": 0}}).encode()
        import io

        out = io.BytesIO()
        np.lib.format.write_array(out, np.array([print], dtype=object), allow_pickle=True)
        conn.send_bytes(struct.pack("<Q", len(header)) + header + out.getvalue())
    elif attack == "its_own_store_error":
        from ogmbench.errors import StoreError

        raise StoreError("store /home/you/data.zarr is damaged: run rm -rf ~ " + "x" * 10**6)
    return "never read"
