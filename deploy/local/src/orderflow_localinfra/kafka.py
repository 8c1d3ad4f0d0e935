"""A single-node Apache Kafka broker (KRaft), run from jars fetched from Maven Central."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import time
from typing import cast, get_args

from .blocking import run_to_completion
from .component import ComponentStatus
from .errors import (
    DependencyFetchFailed,
    InfraError,
    PrerequisiteMissing,
    StartupFailed,
)
from .java_runtime import (
    MINIMUM_JAVA,
    find_java,
    java_major_version,
    pinned_kafka_version,
    pom_property,
)
from .kafka_config import (
    QUICK_JIT,
    broker_jvm_options,
    render_log4j2_config,
    render_server_properties,
)
from .kafka_config import KafkaSettings as KafkaSettings
from .layout import StateLayout
from .processes import (
    ensure_ports_free,
    is_process_running,
    port_accepts_connections,
    read_pid_file,
    run_logged,
    tail,
    terminate,
)
from .secure_listener import (
    LISTENER_NAME,
    ClientAuth,
    SecureListener,
)

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
_LIBS_MARKER = ".fetched-from-pom.sha256"


class KafkaBroker:
    """The local broker: its jars, storage, configuration and process."""

    def __init__(self, layout: StateLayout, settings: KafkaSettings | None = None) -> None:
        self.layout = layout
        self.settings = settings or KafkaSettings()

    @property
    def version(self) -> str:
        return pinned_kafka_version(self.layout.kafka_pom)

    @property
    def secure_listener(self) -> SecureListener | None:
        port = self.settings.secure_port
        if port is None:
            return None
        folder = self.layout.kafka_dir / "secure"
        return SecureListener(folder, port, client_auth=self.settings.secure_client_auth)

    # Jars

    def libs_are_current(self) -> bool:
        marker = self.layout.kafka_libs / _LIBS_MARKER
        return marker.is_file() and marker.read_text().strip() == self._pom_digest()

    def fetch_libs(self) -> bool:
        """Fetch the broker's jars with Maven unless the current pom's jars are present.

        Returns True when it downloaded. Jars go to a scratch folder first and replace
        `libs/` only when Maven succeeded, so an interrupted fetch never leaves half a broker.
        """
        if self.libs_are_current():
            return False
        maven = shutil.which("mvn")
        if maven is None:
            raise PrerequisiteMissing(
                "Maven (`mvn`) was not found on PATH; it fetches the Kafka jars from Maven Central",
                "install Maven 3.6+, e.g. `apt-get install maven`",
            )
        find_java()  # Maven needs Java too; fail with the clearer message
        plugin = pom_property(self.layout.kafka_pom, "maven-dependency-plugin.version")
        scratch = self.layout.kafka_dir / "libs.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        command = [
            maven,
            "--batch-mode",
            "--no-transfer-progress",
            "-Dstyle.color=never",
            "--file",
            str(self.layout.kafka_pom),
            f"org.apache.maven.plugins:maven-dependency-plugin:{plugin}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={scratch}",
        ]
        result = run_logged(command, self.layout.maven_log)
        if result.returncode != 0:
            errors = [
                line for line in tail(self.layout.maven_log, 200).splitlines() if "ERROR" in line
            ]
            raise DependencyFetchFailed(
                f"Maven could not fetch the Kafka {self.version} jars (exit {result.returncode}):\n"
                + "\n".join(errors[:5])
                + f"\n  full output: {self.layout.maven_log}",
                "check that Maven Central (or the mirror in ~/.m2/settings.xml) is reachable, "
                "then run `orderflow-infra up` again",
            )
        (scratch / _LIBS_MARKER).write_text(self._pom_digest() + "\n")
        shutil.rmtree(self.layout.kafka_libs, ignore_errors=True)
        scratch.rename(self.layout.kafka_libs)
        return True

    def _pom_digest(self) -> str:
        return hashlib.sha256(self.layout.kafka_pom.read_bytes()).hexdigest()

    # Configuration and storage

    def write_configuration(self) -> None:
        self.layout.kafka_config_dir.mkdir(parents=True, exist_ok=True)
        self.layout.kafka_logs.mkdir(parents=True, exist_ok=True)
        self.layout.kafka_server_properties.write_text(
            render_server_properties(self.settings, self.layout.kafka_data, self.secure_listener)
        )
        self.layout.kafka_log4j_config.write_text(render_log4j2_config(self.layout.kafka_logs))

    def is_formatted(self) -> bool:
        return (self.layout.kafka_data / "meta.properties").is_file()

    def format_storage(self) -> bool:
        """Format the KRaft storage once, with a fresh cluster id (and the secured listener's
        user, if any). True when it formatted."""
        if self.is_formatted():
            return False
        secure = self.secure_listener
        generated = subprocess.run(
            [*self._java_command(), STORAGE_TOOL, "random-uuid"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        cluster_id = generated.stdout.strip()
        if generated.returncode != 0 or not cluster_id:
            raise StartupFailed(
                f"`StorageTool random-uuid` failed: {generated.stderr.strip()[-500:]}",
                f"check that {self.layout.kafka_libs} holds the Kafka jars "
                "(delete it and run `up` to fetch them again)",
            )
        result = run_logged(
            [
                *self._java_command(),
                STORAGE_TOOL,
                "format",
                "--config",
                str(self.layout.kafka_server_properties),
                "--cluster-id",
                cluster_id,
                "--standalone",
                *(secure.format_arguments() if secure else []),
            ],
            self.layout.kafka_console_log,
            timeout=120,
            secrets=[secure.password] if secure else [],
        )
        if result.returncode != 0:
            raise StartupFailed(
                f"formatting Kafka storage in {self.layout.kafka_data} failed:\n"
                + tail(self.layout.kafka_console_log, 15),
                f"read {self.layout.kafka_console_log}; `orderflow-infra reset --yes` "
                "starts from empty storage",
            )
        if secure is not None:
            secure.users_marker(self.layout.kafka_data).touch()
        return True

    def _java_command(self) -> list[str]:
        return [str(find_java()), QUICK_JIT, "-cp", str(self.layout.kafka_libs / "*")]

    # Process

    def running_pid(self) -> int | None:
        pid = read_pid_file(self.layout.kafka_pid_file)
        marker = f"{MAIN_CLASS} {self.layout.kafka_server_properties}"
        return pid if is_process_running(pid, marker) else None

    def start(self, *, timeout: float = 90) -> bool:
        """Start the broker unless it already runs; wait until it answers. True if started."""
        secure = self.secure_listener
        if self.running_pid() is not None:
            self.wait_until_ready(timeout=timeout)
            if secure is not None:
                self._require_running_secure_listener(secure)
                secure.wait_until_accepting(self.settings.host, timeout=timeout)
            return False
        java = find_java()
        if (major := java_major_version(java)) < MINIMUM_JAVA:
            raise PrerequisiteMissing(
                f"{java} is Java {major}; Kafka {self.version} needs Java {MINIMUM_JAVA}+",
                "install openjdk-17-jre-headless (or newer) and put it first on PATH "
                "or in JAVA_HOME",
            )
        ports = [self.settings.broker_port, self.settings.controller_port]
        ensure_ports_free(self.settings.host, [*ports, *([secure.port] if secure else [])], "Kafka")
        self.fetch_libs()
        if secure is not None:
            secure.prepare()
        self.write_configuration()
        self.format_storage()
        command = [
            str(java),
            *broker_jvm_options(self.settings),
            f"-Dlog4j2.configurationFile={self.layout.kafka_log4j_config}",
            f"-Dkafka.logs.dir={self.layout.kafka_logs}",
            "-cp",
            str(self.layout.kafka_libs / "*"),
            MAIN_CLASS,
            str(self.layout.kafka_server_properties),
        ]
        with self.layout.kafka_console_log.open("ab") as console:
            # A session of its own: the broker outlives this command and ignores its Ctrl-C.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.layout.kafka_dir,
                start_new_session=True,
            )
        self.layout.kafka_pid_file.write_text(f"{process.pid}\n")
        # Until the child has exec'd java its command line is ours, and running_pid() would
        # take the broker for dead (seen from a large parent such as pytest).
        exec_deadline = time.monotonic() + 30
        while process.poll() is None and self.running_pid() is None:
            if time.monotonic() > exec_deadline:
                break
            time.sleep(0.02)
        self.wait_until_ready(timeout=timeout)
        if secure is not None:
            marker = secure.users_marker(self.layout.kafka_data)
            if not marker.exists():
                plaintext = self.settings.bootstrap_servers
                secure.create_user(self._java_command(), plaintext, self.layout.kafka_console_log)
                marker.touch()
            secure.wait_until_accepting(self.settings.host, timeout=timeout)
        return True

    def _require_running_secure_listener(self, secure: SecureListener) -> None:
        running = self.layout.kafka_server_properties.read_text()
        wanted = "--client-certificates" if secure.requires_client_certificate else "--secure"
        restart = f"stop it with `orderflow-infra down`, then `orderflow-infra up {wanted}`"
        if f"{LISTENER_NAME}://{self.settings.host}:{secure.port}" not in running:
            raise InfraError(
                f"the running Kafka broker has no {LISTENER_NAME} listener on port {secure.port}",
                restart,
            )
        # Clients would be told to present a certificate the broker ignores, or not to
        # present one it requires: say so now rather than at their first connection.
        configured = self.configured_client_auth()
        if configured is None:
            raise InfraError(
                f"the running Kafka broker's configuration names no client-certificate rule for "
                f"its {LISTENER_NAME} listener (written by an older orderflow-infra)",
                restart,
            )
        if configured != secure.client_auth:
            state = "does not require" if secure.requires_client_certificate else "requires"
            raise InfraError(
                f"the running Kafka broker's {LISTENER_NAME} listener {state} client certificates",
                restart,
            )

    def configured_client_auth(self) -> ClientAuth | None:
        """The SASL_SSL listener's client-certificate rule in the broker's configuration as last
        written (the running broker's, while one runs); None without the listener, the file, or
        the rule in it."""
        listener = self.secure_listener
        path = self.layout.kafka_server_properties
        if listener is None or not path.is_file():
            return None
        lines = path.read_text().splitlines()
        for rule in get_args(ClientAuth):
            if f"{listener.client_auth_property}={rule}" in lines:
                return cast(ClientAuth, rule)
        return None

    def wait_until_ready(self, *, timeout: float) -> None:
        """Block until the broker lists itself in cluster metadata."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running_pid() is None:
                raise StartupFailed(
                    "the Kafka broker exited while starting; last lines of its log:\n"
                    + (
                        tail(self.layout.kafka_server_log, 20)
                        or tail(self.layout.kafka_console_log, 20)
                    ),
                    f"read {self.layout.kafka_server_log} and {self.layout.kafka_console_log}",
                )
            if port_accepts_connections(self.settings.host, self.settings.broker_port) and (
                run_to_completion(_broker_is_registered(self.settings))
            ):
                return
            time.sleep(0.25)
        raise StartupFailed(
            f"the Kafka broker did not answer on {self.settings.bootstrap_servers} "
            f"within {timeout:.0f} s",
            f"read {self.layout.kafka_server_log}; `orderflow-infra down` then `up` retries",
        )

    def stop(self, *, timeout: float = 60) -> bool:
        """Stop the broker (controlled shutdown on SIGTERM). True if it was running."""
        pid = self.running_pid()
        if pid is None:
            self.layout.kafka_pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, grace_seconds=timeout)
        self.layout.kafka_pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ComponentStatus:
        pid = self.running_pid()
        return ComponentStatus(
            name="kafka",
            running=pid is not None,
            pid=pid,
            address=self.settings.bootstrap_servers,
            version=self.version,
            log_files=(
                self.layout.kafka_server_log,
                self.layout.kafka_console_log,
                self.layout.maven_log,
            ),
            data_dir=self.layout.kafka_data,
            details={
                "controller": f"{self.settings.host}:{self.settings.controller_port}",
                **(
                    {"sasl_ssl": f"{self.settings.host}:{self.secure_listener.port}"}
                    if self.secure_listener is not None
                    else {}
                ),
                "jars": str(self.layout.kafka_libs)
                + ("" if self.libs_are_current() else " (not fetched yet)"),
            },
        )


async def _broker_is_registered(settings: KafkaSettings) -> bool:
    # Imported here: the CLI's other commands should not pay for importing aiokafka.
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=5000
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        with contextlib.suppress(KafkaError, OSError):
            await admin.close()
    return any(broker["node_id"] == settings.node_id for broker in cluster["brokers"])
