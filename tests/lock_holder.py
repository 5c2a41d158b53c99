"""Another process holding a run directory's lock, as a second `pretrain` or `finetune` would.

`with held_lock(run_dir) as pid:` starts a small Python process (no
TensorFlow) that takes `RUN/lock` the way `run_lock` does and keeps it until
the block ends.
"""

import contextlib
import os
import subprocess
import sys
import textwrap

HOLD_LOCK = textwrap.dedent("""
    import fcntl, json, os, socket, sys
    handle = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(handle, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
    print("locked", flush=True)
    sys.stdin.read()
""")


@contextlib.contextmanager
def held_lock(run_dir):
    """Yields the PID of a process holding `run_dir/lock` (created) until the block ends."""
    os.makedirs(run_dir, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, os.path.join(run_dir, "lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
