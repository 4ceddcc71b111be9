#!/usr/bin/env python3
"""Times savevm and loadvm through a QEMU-style monitor on 127.0.0.1:PORT (MiniVM's or QEMU's HMP over TCP).

Usage: monitor-timing.py PORT REPEAT
Each command is timed from sending its line to the next prompt, REPEAT times (savevm bench-s, then loadvm bench-s),
then the VM is told to quit. Prints "SAVEVM_MS LOADVM_MS" (medians). An answer starting "Error" fails the run, so a
refused command is never timed as a fast one.
"""
import socket
import statistics
import sys
import time

PROMPTS = (b"(minivm) ", b"(qemu) ")


def connect(port):
    deadline = time.monotonic() + 60
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=600)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def until_prompt(sock):
    data = b""
    while not data.rstrip(b" ").endswith(tuple(p.rstrip(b" ") for p in PROMPTS)):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit(f"monitor closed the connection; last output: {data[-300:]!r}")
        data += chunk
    return data


def timed(sock, line):
    start = time.perf_counter()
    sock.sendall(line.encode() + b"\n")
    answer = until_prompt(sock)
    elapsed = (time.perf_counter() - start) * 1000
    text = answer.decode(errors="replace")
    if "Error" in text or "error" in text:
        raise SystemExit(f"'{line}' failed: {text.strip()}")
    return elapsed


def main():
    port, repeat = int(sys.argv[1]), int(sys.argv[2])
    sock = connect(port)
    until_prompt(sock)
    saves = [timed(sock, "savevm bench-s") for _ in range(repeat)]
    loads = [timed(sock, "loadvm bench-s") for _ in range(repeat)]
    sock.sendall(b"quit\n")
    # Wait for the emulator to close the connection as it exits (QEMU ignores a quit whose client is already gone).
    sock.settimeout(30)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
    sock.close()
    print(f"{statistics.median(saves):.0f} {statistics.median(loads):.0f}")


if __name__ == "__main__":
    main()
