"""Field mappings (docs/mapping.md): the validated model and its YAML (`model`), its
application to a frame of source strings (`apply`), and the mapping assistant (`suggest`,
imported on its own).

The package depends on `normalized` and `money` only, never on the connectors: connectors use
mappings, not the other way round.
"""

from catalog_pipelines.mapping.apply import apply_mapping, parse_bool, parse_policy, parse_quantity
from catalog_pipelines.mapping.model import (
    FORMATS,
    PLAIN_TARGETS,
    PREFIX_TARGETS,
    Mapping,
    MappingDocument,
    MappingError,
    dump_mapping,
    load_mapping,
    mapping_from_dict,
    mapping_to_dict,
    parse_mapping_text,
)

__all__ = [
    "FORMATS",
    "PLAIN_TARGETS",
    "PREFIX_TARGETS",
    "Mapping",
    "MappingDocument",
    "MappingError",
    "apply_mapping",
    "dump_mapping",
    "load_mapping",
    "mapping_from_dict",
    "mapping_to_dict",
    "parse_bool",
    "parse_mapping_text",
    "parse_policy",
    "parse_quantity",
]
