"""Runs a command under a pseudo-terminal and answers its questions (the prompt test of
`tests/it/prompt.rs`): argv[1] is a JSON list of [expected text, answer] pairs (answer null:
only wait for the text), the rest the command. Waits for each expected text, types the answer and Enter; prints everything the
terminal showed, then exits with the command's exit code (124 when a text never came)."""

import json
import os
import pty
import select
import sys
import time

steps = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])

seen = b""
failed = None


def read(timeout: float) -> bool:
    global seen
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return True
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    if not chunk:
        return False
    seen += chunk
    return True


start = 0
for expected, answer in steps:
    deadline = time.time() + 20
    while expected.encode() not in seen[start:]:
        if time.time() > deadline or not read(0.2):
            failed = expected
            break
    if failed:
        break
    start = seen.index(expected.encode(), start) + len(expected)
    if answer is None:
        continue  # only wait for the text (an error message, say)
    time.sleep(0.05)
    os.write(fd, answer.encode() + b"\r")

while read(0.5):
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
if failed:
    sys.stdout.write(f"\n[pty_session: never saw {failed!r}]\n")
    sys.exit(124)
sys.exit(os.waitstatus_to_exitcode(status))
