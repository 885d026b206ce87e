"""`run --once` and `demo` show their progress, and Ctrl-C says what was done and what is left."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

from controller.cli import main
from controller.progress import ApplyProgress
from controller.ratelimit import TokenBucket
from tests.test_daemon import wait_for

TOTAL = 56  # 20 tables (raw and parsed) + 10 DCRs + 8 scheduler + 5 x (Uniform VMSS + 2 Flexible VMs) associations + 3 functions
RUN_ONCE = [sys.executable, "-m", "controller.cli", "run", "--once"]


def run_once(*args: str, **popen) -> subprocess.Popen:
    """`run --once` as a process, in the environment the `azure` fixture set; two changes at once."""
    return subprocess.Popen([*RUN_ONCE, *args], env={**os.environ, "APPLY_CONCURRENCY": "2"}, **popen)


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_on_a_terminal_the_apply_shows_a_bar_counting_up_to_the_total(sim, azure):
    sim.set_latency(write=0.05)
    terminal, child_side = pty.openpty()
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = run_once(stdin=child_side, stdout=child_side, stderr=child_side)
    os.close(child_side)
    output = read_all(terminal)
    os.close(terminal)
    assert proc.wait(timeout=30) == 0, output
    assert "\r" in output  # redrawn in place
    counts = [int(n) for n in re.findall(rf"applying: +\d+%\|[^|]*\| (\d+)/{TOTAL}", output)]
    assert counts and counts[-1] == TOTAL, output
    assert any(0 < n < TOTAL for n in counts), output  # shown while it ran, not only at the end
    assert f"Applied {TOTAL}, skipped 0, failed 0." in output


def test_log_lines_on_a_terminal_go_above_the_bar_not_through_it(sim, azure):
    sim.set_latency(write=0.05)
    terminal, child_side = pty.openpty()
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = run_once("-v", stdin=child_side, stdout=child_side, stderr=child_side)
    os.close(child_side)
    output = read_all(terminal)
    os.close(terminal)
    assert proc.wait(timeout=30) == 0, output
    # each request's line is a line of its own: the bar is erased (\r) before it and drawn again
    # after it, never left in front of it or cut into it
    puts = [line for line in re.split(r"\r?\n", output) if " PUT /subscriptions/" in line]
    assert len(puts) >= TOTAL, output
    for line in puts:
        shown = line.rsplit("\r", 1)[-1]  # what the terminal shows once the carriage returns are done
        assert re.match(r"\d{4}-\d\d-\d\d [\d:,]+ INFO slurm-log-controller.requests: PUT ", shown), repr(line)
        assert "applying:" not in shown, repr(line)


def test_off_a_terminal_the_apply_prints_a_line_every_so_often(sim, azure):
    sim.set_latency(write=0.1)  # 56 writes, 2 at a time: about 3 s
    proc = run_once("--progress-every", "1", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "\r" not in output
    lines = output.splitlines()
    periodic = [i for i, line in enumerate(lines) if re.fullmatch(rf"applied \d+/{TOTAL}, 0 failed, about \d+ (s|min) left", line)]
    done = [i for i, line in enumerate(lines) if re.fullmatch(rf"applied {TOTAL}/{TOTAL}, 0 failed, done in \d+\.\d s", line)]
    assert periodic and len(done) == 1, output
    plan = lines.index(next(line for line in lines if line.startswith(f"Plan: {TOTAL} to create")))
    applied = lines.index(f"Applied {TOTAL}, skipped 0, failed 0.")
    assert plan < periodic[0] < done[0] < applied, output  # the plan first, then the progress, then the result


def test_ctrl_c_lets_the_writes_in_flight_finish_and_says_what_is_left(sim, azure, tmp_path):
    sim.set_latency(write=0.2)  # 56 writes, 2 at a time: about 5.5 s
    metrics = tmp_path / "metrics.prom"
    proc = run_once("--metrics-file", str(metrics), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()))
    reader.start()
    wait_for(lambda: sim.writes() >= 12, timeout=20)
    proc.send_signal(signal.SIGINT)
    writes_at_interrupt = sim.writes()
    interrupted = time.monotonic()
    assert proc.wait(timeout=5) == 130
    assert time.monotonic() - interrupted < 2  # the writes in flight (0.2 s), not the other ~30
    reader.join()
    text = output[0]

    found = re.search(rf"Interrupted: applied (\d+) of {TOTAL} changes \([^)]*\); (\d+) left \(", text)
    assert found, text
    applied, left = int(found[1]), int(found[2])
    assert applied + left == TOTAL and left > 0
    written = (len([t for t in sim.list("table") if t["name"].endswith("_CL")])
               + len(sim.list("dcr")) + len(sim.list("association")) + len(sim.list("function")))
    assert applied == written == sim.writes()
    assert sim.writes() - writes_at_interrupt <= 2  # only those in flight (APPLY_CONCURRENCY) went on
    assert f"Plan: {left} to create, 0 to update, 0 to delete." in text  # what the next run will do
    assert f"Not started (stopped): {left}." in text and "shutting down" not in text  # counted, not listed
    assert "interrupted: finishing the changes in flight" in text
    # the pass is in the metrics all the same
    recorded = sum(int(float(n)) for n in re.findall(r'changes_total\{[^}]*result="applied"\} (\S+)', metrics.read_text()))
    assert recorded == applied


def test_the_eta_counts_the_writes_beyond_the_bucket_at_its_refill_rate():
    bucket = TokenBucket(burst=200, rate=10)
    progress = ApplyProgress(10029, bucket)
    # (10029 - 200) writes at 10/s: 983 s, however fast the burst went
    assert progress.line() == "applied 0/10029, 0 failed, about 16 min left"
    assert ApplyProgress(150, bucket).eta() is None  # the burst covers it: no floor to show
    # deletes draw on ARM's delete bucket: 5,000 writes and 5,000 deletes, each burst 200 at 10/s
    both = ApplyProgress(10000, TokenBucket(200, 10), deletes=5000, delete_bucket=TokenBucket(200, 10))
    assert both.eta() == 2 * (5000 - 200) / 10


def test_the_demo_reads_no_settings_and_no_env_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("this is not a setting\nAPPLY_CONCURRENCY=banana\n")
    monkeypatch.setenv("POLICY", "delete-everything")  # nor the environment's
    monkeypatch.setenv("SLURM_LOG_CONTROLLER_CONFIG", str(tmp_path / "missing.yaml"))  # its components are the packaged ones
    assert main(["demo", "--nodes", "1"]) == 0
    assert "Done\nNo changes" in capsys.readouterr().out


def test_the_demo_refuses_fewer_than_one_node(capsys):
    assert main(["demo", "--nodes", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--nodes: must be at least 1" in err


def test_ctrl_c_while_reading_azure_says_nothing_was_changed(sim, azure):
    sim.set_latency(read=0.5)
    proc = run_once(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: sim.reads() >= 1, timeout=20)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted while reading Azure: nothing was changed", err
    assert sim.writes() == 0 and "Plan:" not in out
