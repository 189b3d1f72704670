"""The schema registry the settings name: a Schema Registry when one is configured, else the
local id map in ``schemas.local_dir`` or in the package's own schemas. Kept apart from the
worker loop so light commands need not import the models."""

from __future__ import annotations

from worker.codec.avro import default_schemas_dir
from worker.codec.registry import HttpSchemaRegistry, LocalSchemaRegistry, SchemaRegistry
from worker.settings import Settings


def schema_registry(settings: Settings) -> SchemaRegistry:
    schemas = settings.schemas
    if schemas.registry_url:
        auth = None
        if schemas.registry_user and schemas.registry_password:
            auth = (schemas.registry_user, schemas.registry_password)
        return HttpSchemaRegistry(schemas.registry_url, basic_auth=auth)
    return LocalSchemaRegistry(schemas.local_dir or default_schemas_dir())
