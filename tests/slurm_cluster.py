"""A real one-node SLURM cluster for the tests: slurmctld and slurmd on this machine.

Debian's ``slurm-wlm`` and ``munge`` are installed with apt-get when missing (as root, as in
CI). The cluster's ``slurm.conf`` lives in a temporary folder, on ports of its own, so two
test processes (pytest-xdist workers) can each run one; every client command finds it
through ``SLURM_CONF``. Four fake GPUs are declared as GRES whose device files are links to
``/dev/null``: slurmd wants a character device behind each ``File=`` (empty files make it
drop the devices, and then it sets no ``CUDA_VISIBLE_DEVICES``); with these, SLURM itself
gives each job ``CUDA_VISIBLE_DEVICES``, ``SLURM_JOB_GPUS`` and ``GPU_DEVICE_ORDINAL`` for
the GPUs it allocated, as on a real GPU node. Each cluster has its own munged, on a socket in
its folder (``AuthInfo=socket=...``), so one test process ending its cluster never takes
authentication away from another's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

GPUS = 4  # fake GPUs on the node
CPUS = 8  # declared CPUs (more than the machine has: SlurmdParameters=config_overrides)
WAIT = 60.0  # seconds for the node to come up idle
DAEMONS = ("slurmctld", "slurmd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 30) -> str:
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def install() -> str:
    """Install slurm-wlm and munge when missing; the reason SLURM is unusable, or ''."""
    if all(shutil.which(p) for p in ("slurmctld", "slurmd", "sbatch", "munged")):
        return ""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "SLURM is not installed and cannot be (needs root and apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        _run(["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"], env, timeout=600)
    except (RuntimeError, subprocess.TimeoutExpired):
        try:
            _run(["apt-get", "update", "-q"], env, timeout=300)
            _run(["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"], env, timeout=600)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return f"could not install slurm-wlm and munge: {exc}"
    return ""


class SlurmCluster:
    """slurmctld + slurmd on localhost, configured in ``folder``; :meth:`stop` ends both."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.node = "sweepnode"
        self.partition = "debug"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.munge_socket = folder / "munge" / "munge.socket"
        self._munged: subprocess.Popen | None = None

    # -- configuration ------------------------------------------------------------------------
    def write_config(self) -> None:
        f = self.folder
        for name in ("state", "spool", "log", "dev", "munge"):
            (f / name).mkdir(parents=True, exist_ok=True)
        for i in range(GPUS):
            device = f / "dev" / f"nvidia{i}"
            if not device.is_symlink():
                device.symlink_to("/dev/null")
        (f / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu File={f}/dev/nvidia[0-{GPUS - 1}]\n"
        )
        self.conf.write_text(
            "\n".join(
                [
                    f"ClusterName=sweeptest{os.getpid()}",
                    "SlurmctldHost=localhost",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={self.munge_socket}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "SlurmdParameters=config_overrides",
                    "ReturnToService=2",
                    "MpiDefault=none",
                    "KillWait=30",
                    "MinJobAge=60",
                    "GresTypes=gpu",
                    f"StateSaveLocation={f}/state",
                    f"SlurmdSpoolDir={f}/spool",
                    f"SlurmctldPidFile={f}/slurmctld.pid",
                    f"SlurmdPidFile={f}/slurmd.pid",
                    f"SlurmctldLogFile={f}/log/slurmctld.log",
                    f"SlurmdLogFile={f}/log/slurmd.log",
                    f"NodeName={self.node} NodeHostname=localhost NodeAddr=127.0.0.1 "
                    f"CPUs={CPUS} RealMemory=4000 Gres=gpu:{GPUS} State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes={self.node} Default=YES "
                    "MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    # -- start and stop -----------------------------------------------------------------------
    def start(self) -> None:
        """Start munged (when not running), slurmctld and slurmd; wait for the node."""
        self.write_config()
        self._start_munge()
        _run(["slurmctld", "-f", str(self.conf), "-i"], self.env)
        _run(["slurmd", "-f", str(self.conf), "-N", self.node], self.env)
        self.wait_idle()

    def _start_munge(self) -> None:
        """This cluster's own munged (Debian's key), in the foreground as our child."""
        folder = self.munge_socket.parent
        folder.chmod(0o700)
        self._munged = subprocess.Popen(
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--pid-file={folder / 'munged.pid'}",
                f"--seed-file={folder / 'munged.seed'}",
                f"--log-file={folder / 'munged.log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = ["munge", "-n", f"--socket={self.munge_socket}"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return
            if self._munged.poll() is not None:
                break
            time.sleep(0.2)
        log = (folder / "munged.log").read_text(errors="replace")[-500:] if folder.exists() else ""
        raise RuntimeError(f"munged did not start: {log}")

    def wait_idle(self, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                state = self.sinfo_state()
                if state == "idle":
                    return
            time.sleep(0.5)
        log = (self.folder / "log" / "slurmd.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the node did not come up idle in {timeout:g}s ({state!r})\n{log}")

    def sinfo_state(self) -> str:
        return _run(["sinfo", "-h", "-N", "-o", "%T"], self.env, timeout=10).strip()

    def command(self, *argv: str, timeout: float = 30) -> str:
        """Run a SLURM client command against this cluster; its stdout."""
        return _run(list(argv), self.env, timeout=timeout)

    def jobs(self) -> list[str]:
        """Job ids (array tasks as JOB_INDEX) in squeue, pending or running."""
        out = self.command("squeue", "-h", "-o", "%i")
        return [line.strip() for line in out.splitlines() if line.strip()]

    def stop(self) -> None:
        """Cancel every job, stop both daemons by their pid files and our munged; then end
        whatever still runs with this cluster's SLURM_CONF (a job's leftovers)."""
        with contextlib.suppress(Exception):
            self.command("scancel", "-u", "root")
            deadline = time.monotonic() + 45  # KillWait (30 s) and a margin
            while self.jobs() and time.monotonic() < deadline:
                time.sleep(0.5)
        for name in reversed(DAEMONS):
            self._stop_daemon(self.folder / f"{name}.pid")
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._munged is not None:
            self._munged.terminate()
            try:
                self._munged.wait(10)
            except subprocess.TimeoutExpired:
                self._munged.kill()
                self._munged.wait(10)

    def leftovers(self) -> list[int]:
        """Processes started for this cluster's jobs (slurmstepd, agents, training programs):
        every one of them carries this cluster's SLURM_CONF in its environment."""
        mark = f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark in environ:
                found.append(int(entry))
        return found

    @staticmethod
    def _stop_daemon(pid_file: Path) -> None:
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
