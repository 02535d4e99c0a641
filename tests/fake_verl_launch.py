"""A stand-in for one verl launch (see signal_driver.py): starts a child in its own session and a
"raylet" in a new session whose command line names the private Ray temp dir (as Ray's processes
do), prints their pids, then runs until stopped. Default signal dispositions, like a real driver
that is not told about SIGTERM."""
import subprocess
import sys
import time

tmp = next((a.split("=", 1)[1] for a in sys.argv[1:] if "_temp_dir=" in a), "/tmp/no-temp-dir")
sleeper = [sys.executable, "-c", "import sys, time; time.sleep(600)"]
child = subprocess.Popen(sleeper + ["worker"])
raylet = subprocess.Popen(sleeper + [f"{tmp}/session_latest/raylet"], start_new_session=True)
print(f"[polaris] fake launch pids {child.pid} {raylet.pid}", flush=True)
print("[polaris] placement: rank 0 pid 1 on node abc123 (ip 127.0.0.1)", flush=True)
while True:
    time.sleep(1)
