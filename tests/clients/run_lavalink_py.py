"""Starts a Basalt binary on a free loopback port with a temporary config, runs the
Lavalink.py client script against it, then stops the node with SIGTERM and checks it
exits 0 (clean shutdown).

Usage: python run_lavalink_py.py [PATH_TO_BASALT]   (default: target/debug/basalt)
Run it with the Python that has `lavalink` installed (.ci/run makes a venv).
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PASSWORD = "lavalink-py-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "basalt")
    fixture = os.path.join(ROOT, "tests", "fixtures", "sine440_48k_stereo_1s.flac")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="basalt-lpy-") as tmp:
        cfg = os.path.join(tmp, "config.toml")
        log_path = os.path.join(tmp, "basalt.log")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(
                f'[server]\naddress = "127.0.0.1"\nport = {port}\npassword = "{PASSWORD}"\n'
                # Default sources (so their blobs decode) plus local for the fixture.
                "[sources]\nlocal = true\n"
                "[metrics]\nprometheus = true\n"
                f'[logging]\nlevel = "info"\nfile = "{log_path}"\n'
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("BASALT_")}
        proc = subprocess.Popen([binary, "--config", cfg], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rc = 1
        try:
            if not wait_port(port, proc):
                print(f"FAIL basalt did not start listening on {port} (exit {proc.poll()})")
            else:
                client_env = dict(env, BASALT_HOST="127.0.0.1", BASALT_PORT=str(port),
                                  BASALT_PASSWORD=PASSWORD, BASALT_METRICS="1",
                                  BASALT_FIXTURE=fixture if os.path.exists(fixture) else "")
                try:
                    rc = subprocess.run([sys.executable, os.path.join(HERE, "lavalink_py_client.py")],
                                        env=client_env, stdin=subprocess.DEVNULL, timeout=120).returncode
                except subprocess.TimeoutExpired:
                    print("FAIL the client script timed out")
                    rc = 1
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout=15)
                    ok = code == 0
                    print(f"{'ok  ' if ok else 'FAIL'} SIGTERM → clean exit (code {code})")
                    if not ok:
                        rc = rc or 1
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    print("FAIL basalt did not exit within 15 s of SIGTERM")
                    rc = rc or 1
            if rc != 0 and os.path.exists(log_path):
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    print("---- basalt log (tail) ----")
                    print("".join(f.readlines()[-40:]))
    sys.exit(rc)


if __name__ == "__main__":
    main()
