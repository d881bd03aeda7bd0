"""Single-node Apache Kafka (KRaft: broker and controller in one JVM) on 127.0.0.1:19092.

The broker jars come from Maven Central via devservices/pom.xml and are cached in
var/cache/kafka-libs, so no Kafka distribution tarball or ZooKeeper is needed.
"""

from __future__ import annotations

import base64
import shutil
import uuid
import warnings
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .core import CACHE_DIR, HOST, LOG_DIR, VAR, DevServiceError, Service, port_open, progress, run

BROKER_PORT = 19092
CONTROLLER_PORT = 19093
BOOTSTRAP = f"{HOST}:{BROKER_PORT}"

POM = Path(__file__).with_name("pom.xml")
LIBS = CACHE_DIR / "kafka-libs"
HOME = VAR / "kafka"
DATA_DIR = HOME / "data"
SERVER_PROPERTIES = HOME / "server.properties"
LOG4J2_XML = HOME / "log4j2.xml"

SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.bootstrap.servers": f"{HOST}:{CONTROLLER_PORT}",
    "listeners": f"PLAINTEXT://{BOOTSTRAP},CONTROLLER://{HOST}:{CONTROLLER_PORT}",
    "advertised.listeners": f"PLAINTEXT://{BOOTSTRAP},CONTROLLER://{HOST}:{CONTROLLER_PORT}",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "log.dirs": str(DATA_DIR),
    # A single broker on a test box: internal topics cannot be replicated, consumers
    # should join groups immediately, and tests may produce to topics nobody created.
    "num.partitions": "4",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "true",
}

LOG4J2_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by devservices/kafka.py on every start; edit that file instead. -->
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName={log} append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DevServiceError(
            "kafka: `java` (JDK/JRE 17+) is not on PATH; install one, e.g. "
            "`apt-get install -y openjdk-17-jre-headless`"
        )
    return java


def _new_cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes in URL-safe base64 without padding. Like Kafka's own
    # Uuid.randomUuid(), avoid a leading "-", which the command-line parser would take for a flag.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class Kafka(Service):
    name = "kafka"
    ports = (BROKER_PORT, CONTROLLER_PORT)
    start_timeout = 90.0

    def _jvm(self, main_class: str) -> list[str]:
        return [
            _java(),
            "-Xms256m",
            "-Xmx512m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_XML}",
            "-cp",
            f"{LIBS}/*",  # expanded by java itself, not by a shell
            main_class,
        ]

    def install(self) -> None:
        _java()
        if any(LIBS.glob("kafka_2.13-*.jar")):
            return
        if shutil.which("mvn") is None:
            raise DevServiceError(
                f"kafka: broker jars are missing from {LIBS} and Maven (`mvn`) is not on PATH to "
                "fetch them; install Maven 3, e.g. `apt-get install -y maven`"
            )
        progress("fetching broker jars with mvn… ")
        # Download next to the cache and rename at the end, so an interrupted download never
        # leaves a half-filled folder that would pass the "jars present" check above.
        partial = LIBS.with_name(LIBS.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={partial}",
                "-DincludeScope=runtime",
            ],
            "kafka: fetching broker jars from Maven Central",
            timeout=900,
        )
        shutil.rmtree(LIBS, ignore_errors=True)
        partial.rename(LIBS)

    def prepare(self) -> None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        SERVER_PROPERTIES.write_text(
            "# Written by devservices/kafka.py on every start; edit that file instead.\n"
            + "".join(f"{key}={value}\n" for key, value in SETTINGS.items())
        )
        LOG4J2_XML.write_text(LOG4J2_TEMPLATE.format(log=quoteattr(str(LOG_DIR / "kafka.log"))))
        if (DATA_DIR / "meta.properties").exists():
            return  # already formatted; formatting again would refuse (or wipe the cluster id)
        progress("formatting storage… ")
        run(
            self._jvm("kafka.tools.StorageTool")
            + ["format", "--standalone", "-t", _new_cluster_id(), "-c", str(SERVER_PROPERTIES)],
            "kafka: formatting KRaft storage",
            timeout=120,
        )

    def command(self) -> list[str]:
        return self._jvm("kafka.Kafka") + [str(SERVER_PROPERTIES)]

    def markers(self) -> tuple[str, ...]:
        return ("kafka.Kafka", str(SERVER_PROPERTIES))

    def is_ready(self) -> bool:
        # Cheap TCP probe first: the admin client logs noisy errors while nothing listens.
        if not port_open(BROKER_PORT):
            return False
        with warnings.catch_warnings():
            # kafka-python 3.0 emits ~200 importlib.resources DeprecationWarnings on import.
            warnings.simplefilter("ignore", DeprecationWarning)
            from kafka.admin import KafkaAdminClient
            from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=BOOTSTRAP, bootstrap_timeout_ms=5000, request_timeout_ms=5000
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP}
