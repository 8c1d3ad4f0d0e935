"""The Java the local Kafka broker runs on, and the versions pinned in the checkout's pom."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from .errors import InfraError, PrerequisiteMissing

MINIMUM_JAVA = 17  # Kafka 4.x brokers need Java 17
_POM_NAMESPACE = {"m": "http://maven.apache.org/POM/4.0.0"}


def pom_property(pom: Path, name: str) -> str:
    root = ElementTree.parse(pom).getroot()  # noqa: S314 - our own pom, not untrusted input
    element = root.find(f"m:properties/m:{name}", _POM_NAMESPACE)
    if element is None or not (element.text or "").strip():
        raise InfraError(f"{pom} has no <{name}> property", f"restore <{name}> in {pom}")
    return (element.text or "").strip()


def pinned_kafka_version(pom: Path) -> str:
    return pom_property(pom, "kafka.version")


def find_java() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.is_file():
        return candidate
    found = shutil.which("java")
    if found is None:
        raise PrerequisiteMissing(
            "Java was not found (neither $JAVA_HOME/bin/java nor `java` on PATH); "
            f"Kafka needs Java {MINIMUM_JAVA} or newer",
            "install a JDK or JRE 17+, e.g. `apt-get install openjdk-17-jre-headless`",
        )
    return Path(found)


def java_major_version(java: Path) -> int:
    result = subprocess.run(
        [str(java), "-version"], capture_output=True, text=True, check=False, timeout=30
    )
    major = parse_java_major_version(result.stderr + result.stdout)
    if major is None:
        raise PrerequisiteMissing(
            f"cannot tell the version of {java}: {result.stderr.strip()[:200]}",
            f"install a working JDK or JRE {MINIMUM_JAVA}+ and put it on PATH or in JAVA_HOME",
        )
    return major


def parse_java_major_version(version_output: str) -> int | None:
    """The major version in `java -version` output ('openjdk version "17.0.15" ...')."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    # Java 8 and older report themselves as "1.8".
    return int(match.group(2) or 0) if major == 1 else major
