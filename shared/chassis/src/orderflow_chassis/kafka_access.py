"""A start-up check that Kafka lets us in, with a message that says why when it does not.

aiokafka reports a refused password or an untrusted certificate only as "Unable to bootstrap
from [...]" (the cause goes to its log), and a client speaking the wrong protocol to a
listener waits for an answer that never comes. This check opens one connection per bootstrap
server with the configured security, asks for metadata within a deadline, and turns each way
it can fail into one clear :class:`KafkaAccessError` naming the servers, the protocol, the
mechanism and the setting to look at. Nothing here retries: wrong credentials stay wrong.
"""

from __future__ import annotations

import contextlib
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError
from aiokafka.protocol.metadata import MetadataRequest

from orderflow_chassis.kafka_security import KafkaSecurity, setting_name
from orderflow_chassis.waiting import wait_at_most


class KafkaAccessError(ConnectionError):
    """Kafka could not be reached or refused us; the message says which and what to check."""


async def verify_kafka_access(
    bootstrap_servers: str, security: KafkaSecurity, *, timeout_s: float = 10.0
) -> None:
    """Return once one bootstrap server answered a metadata request over ``security``.

    Raises :class:`KafkaAccessError` at the first authentication or certificate failure
    (another server would refuse the same credentials), or when no server answered.
    """
    hosts = [h.strip() for h in bootstrap_servers.split(",") if h.strip()]
    failures: list[str] = []
    for address in hosts:
        host, _, port = address.rpartition(":")
        try:
            await wait_at_most(timeout_s, _ask_metadata(host, int(port), security))
            return
        except TimeoutError:
            failures.append(
                f"{address}: no answer within {timeout_s:.0f}s (does "
                f"{setting_name('security_protocol')}={security.security_protocol} match "
                "this listener?)"
            )
        except ssl.SSLCertVerificationError as error:
            raise KafkaAccessError(
                f"Kafka at {address} (of {bootstrap_servers}): TLS certificate verify failed: "
                f"{error.verify_message or error}. Is {setting_name('ssl_cafile')}="
                f"{security.ssl_cafile or '(system trust store)'} the CA that signed the "
                "broker's certificate, and is the address one the certificate names?"
            ) from error
        except ssl.SSLError as error:
            raise KafkaAccessError(
                f"Kafka at {address} (of {bootstrap_servers}): TLS handshake failed: {error} "
                f"({security.describe()})"
            ) from error
        except SaslAuthenticationFailed as error:
            raise KafkaAccessError(
                f"Kafka at {address} (of {bootstrap_servers}): authentication failed for user "
                f"{security.sasl_username!r} with {security.sasl_mechanism} over "
                f"{security.security_protocol}: check {setting_name('sasl_username')} and "
                f"{setting_name('sasl_password')} ({error})"
            ) from error
        except UnsupportedSaslMechanismError as error:
            raise KafkaAccessError(
                f"Kafka at {address} (of {bootstrap_servers}) does not accept "
                f"{setting_name('sasl_mechanism')}={security.sasl_mechanism}: {error}"
            ) from error
        except (KafkaError, OSError, ValueError) as error:
            failures.append(f"{address}: {type(error).__name__}: {error}{_hint(security)}")
    raise KafkaAccessError(
        f"no Kafka bootstrap server answered ({security.describe()}): " + "; ".join(failures)
    )


def _hint(security: KafkaSecurity) -> str:
    """Why a broker may close the connection without a word."""
    if security.ssl_certfile is not None:
        return (
            f" (a broker that does not trust the client certificate "
            f"{setting_name('ssl_certfile')}={security.ssl_certfile} closes the connection)"
        )
    if security.security_protocol.uses_tls:
        # TLS 1.3: the refusal comes after the handshake, as a closed connection.
        return (
            " (a listener that requires client certificates, ssl.client.auth=required, closes "
            f"the connection of a client without one: set {setting_name('ssl_certfile')} and "
            f"{setting_name('ssl_keyfile')} to a certificate signed by the cluster's clients CA)"
        )
    return ""


async def _ask_metadata(host: str, port: int, security: KafkaSecurity) -> None:
    connection = await create_conn(
        host, port, client_id="orderflow-access-check", **security.aiokafka_options()
    )
    try:
        await connection.send(MetadataRequest([]))
    finally:
        with contextlib.suppress(Exception):
            connection.close()
