"""The schema registry the settings name: a Schema Registry when one is configured, else the
local id map in ``schemas.local_dir`` or in the package's own schemas. Kept apart from the
worker loop so light commands need not import the models."""

from __future__ import annotations

from worker.codec.avro import default_schemas_dir
from worker.codec.confluent import ConfluentSchemaRegistry
from worker.codec.registry import LocalSchemaRegistry, SchemaRegistry
from worker.errors import ConfigError
from worker.settings import SchemaSettings, Settings


def schema_registry(settings: Settings) -> SchemaRegistry:
    """A Schema Registry client when ``schemas.registry_url`` is set, else the local id map."""
    schemas = settings.schemas
    if schemas.registry_url:
        return confluent_registry(schemas)
    return LocalSchemaRegistry(schemas.local_dir or default_schemas_dir())


def confluent_registry(schemas: SchemaSettings) -> ConfluentSchemaRegistry:
    """The configured Schema Registry (``schemas.registry_url`` must be set)."""
    if not schemas.registry_url:
        raise ConfigError(
            "no Schema Registry is configured: set FRAUD_SCHEMAS__REGISTRY_URL "
            "(e.g. http://127.0.0.1:18081/apis/ccompat/v7)"
        )
    auth = None
    if schemas.registry_user is not None and schemas.registry_password is not None:
        auth = (schemas.registry_user, schemas.registry_password)
    return ConfluentSchemaRegistry(
        schemas.registry_url,
        basic_auth=auth,
        ca_location=schemas.registry_ca_location,
        certificate_location=schemas.registry_certificate_location,
        key_location=schemas.registry_key_location,
        key_password=schemas.registry_key_password,
    )
