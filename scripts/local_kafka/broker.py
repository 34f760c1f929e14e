"""One single-node KRaft Kafka in a data dir: start, wait until ready, stop, kill, status."""

from __future__ import annotations

import atexit
import base64
import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from local_kafka import config, processes
from local_kafka.classpath import resolve_classpath
from local_kafka.errors import BrokerError
from local_kafka.probe import kafka_python_ready, metadata_ready
from local_kafka.sasl_ssl import SaslSsl

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


class KafkaBroker:
    """One single-node KRaft Kafka (combined broker+controller) living in ``data_dir``.

    ``port`` / ``controller_port`` of ``0`` pick free ports once, at construction, so every
    restart of this object reuses the same ones (clients keep their bootstrap address).
    The controller quorum is static (``controller.quorum.voters``), so a data dir may also be
    restarted by a new object with different ports.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        controller_port: int = 0,
        *,
        cache_dir: Path | None = None,
        heap: str = "512m",
        extra_properties: Mapping[str, str] | None = None,
        jvm_options: Sequence[str] = (),
        sasl_ssl: SaslSsl | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or processes.free_port()
        self.controller_port = controller_port or processes.free_port()
        while self.controller_port == self.port:
            self.controller_port = processes.free_port()
        self.cache_dir = cache_dir
        self.heap = heap
        self.extra_properties = dict(extra_properties or {})
        # e.g. ("-XX:TieredStopAtLevel=1",): ~35% faster JVM start, slower steady state.
        self.jvm_options = tuple(jvm_options)
        self.sasl_ssl = sasl_ssl
        # The broker's files, all below data_dir.
        self.log_dir = self.data_dir / config.LOG_DIR
        self.server_log = self.log_dir / config.SERVER_LOG
        self.console_log = self.log_dir / config.CONSOLE_LOG
        self.pid_file = self.data_dir / config.PID_FILE
        self.properties_file = self.data_dir / config.PROPERTIES_FILE
        self.kafka_data_dir = self.data_dir / config.DATA_DIR
        self._log4j_file = self.data_dir / config.LOG4J_FILE
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._atexit_registered = False

    # ----------------------------------------------------------------- addresses & config

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def client_config(self) -> dict[str, Any]:
        """The kafka-python options a client needs (none for a plaintext broker)."""
        return self.sasl_ssl.client_config() if self.sasl_ssl else {}

    @property
    def is_formatted(self) -> bool:
        return (self.kafka_data_dir / "meta.properties").is_file()

    def server_properties(self) -> dict[str, str]:
        return config.server_properties(
            port=self.port,
            controller_port=self.controller_port,
            log_dirs=self.kafka_data_dir,
            sasl_ssl=self.sasl_ssl,
            extra=self.extra_properties,
        )

    def _write_config(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        text = config.render_properties(self.server_properties())
        self.properties_file.write_text(text, encoding="utf-8")
        self._log4j_file.write_text(config.render_log4j(self.server_log), encoding="utf-8")

    def _java_command(self, classpath: str, main_class: str, *args: str) -> list[str]:
        return [
            processes.java_executable(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._log4j_file}",
            f"-Dkafka.logs.dir={self.log_dir}",
            *self.jvm_options,
            "-cp",
            classpath,
            main_class,
            *args,
        ]

    # ----------------------------------------------------------------- process state

    def _adopt_pid_file(self) -> int | None:
        """A live broker of this data dir recorded in the pid file (e.g. started by the CLI)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        cmdline = processes.pid_cmdline(pid)
        ours = MAIN_CLASS in cmdline and str(self.properties_file) in cmdline
        return pid if ours and processes.pid_alive(pid) else None

    def _current_pid(self) -> int | None:
        if self._proc is not None:
            if self._proc.poll() is None:
                return self._proc.pid
            self._proc = None
            self._pid = None
        if self._pid is not None and processes.pid_alive(self._pid):
            return self._pid
        self._pid = self._adopt_pid_file()
        return self._pid

    @property
    def pid(self) -> int | None:
        return self._current_pid()

    @property
    def is_running(self) -> bool:
        return self._current_pid() is not None

    def log_tail(self, lines: int = processes.LOG_TAIL_LINES) -> str:
        return (
            f"--- {self.server_log} (tail) ---\n{processes.tail(self.server_log, lines)}\n"
            f"--- {self.console_log} (tail) ---\n{processes.tail(self.console_log, lines)}"
        )

    # ----------------------------------------------------------------- lifecycle

    def format_storage(self, classpath: str) -> None:
        """Format KRaft storage with a fresh cluster id (static quorum: no --standalone)."""
        cluster_id = ""
        while not cluster_id or cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java_command(
            classpath,
            STORAGE_TOOL,
            "format",
            "--config",
            str(self.properties_file),
            "--cluster-id",
            cluster_id,
            "--ignore-formatted",
            *(self.sasl_ssl.format_arguments() if self.sasl_ssl else ()),
        )
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0 or not self.is_formatted:
            raise BrokerError(
                f"formatting KRaft storage in {self.kafka_data_dir} failed "
                f"(exit {done.returncode}):\n{(done.stdout + done.stderr).strip()[-6000:]}"
            )

    def start(self, timeout: float = 60.0, *, detach: bool = False) -> None:
        """Start the broker and wait until it serves Kafka requests.

        Formats storage only on the first start of ``data_dir``; later starts keep all topics
        and messages. With ``detach=False`` (the default) the broker is killed when this
        Python process exits, if it is still running then; ``detach=True`` leaves it running.
        """
        if self.is_running:
            raise BrokerError(f"a broker for {self.data_dir} is already running (pid {self.pid})")
        for port in (self.port, self.controller_port):
            if not processes.port_is_bindable(port):
                raise BrokerError(f"port {port} on 127.0.0.1 is already in use")
        started = time.monotonic()
        classpath = resolve_classpath(self.cache_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not self.is_formatted:
            self.format_storage(classpath)
        cmd = self._java_command(classpath, MAIN_CLASS, str(self.properties_file))
        with self.console_log.open("ab") as console:
            console.write(f"\n=== start {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            console.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # own process group: our signals never reach it
            )
        self._pid = self._proc.pid
        self.pid_file.write_text(f"{self._proc.pid}\n", encoding="utf-8")
        if not detach and not self._atexit_registered:
            atexit.register(self._kill_at_exit)
            self._atexit_registered = True
        try:
            self._wait_ready(started + timeout)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, deadline: float) -> None:
        why = "not started"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise BrokerError(
                    f"Kafka broker exited during startup (exit {code})\n" + self.log_tail()
                )
            # The stdlib probe speaks plaintext only; a secured broker is probed by kafka-python.
            ready, why = (True, "") if self.sasl_ssl else metadata_ready(self.port)
            if ready:
                remaining = max(deadline - time.monotonic(), 1.0)
                ready, why = kafka_python_ready(
                    self.bootstrap, min(remaining, 15.0), self.client_config
                )
                if ready:
                    return
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"Kafka broker on {self.bootstrap} not ready in time ({why})\n"
                    + self.log_tail()
                )
            time.sleep(0.2)

    def _end(self, pid: int, sig: signal.Signals, timeout: float) -> bool:
        """Send ``sig`` and wait up to ``timeout`` for the exit; False if it outlived that."""
        processes.send_signal(pid, sig)
        if self._proc is None or self._proc.pid != pid:
            return processes.wait_gone(pid, timeout)
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _forget(self) -> None:
        self._proc = None
        self._pid = None
        with contextlib.suppress(OSError):
            pid_text = self.pid_file.read_text().strip()
            if not pid_text or not processes.pid_alive(int(pid_text)):
                self.pid_file.unlink()

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown: SIGTERM, wait up to ``timeout``, then SIGKILL."""
        pid = self._current_pid()
        if pid is not None and not self._end(pid, signal.SIGTERM, timeout):
            self._end(pid, signal.SIGKILL, 10.0)
        self._forget()

    def kill(self) -> None:
        """Crash the broker: SIGKILL, no clean shutdown."""
        pid = self._current_pid()
        if pid is not None:
            self._end(pid, signal.SIGKILL, 10.0)
        self._forget()

    def _kill_at_exit(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KafkaBroker({str(self.data_dir)!r}, bootstrap={self.bootstrap!r})"
