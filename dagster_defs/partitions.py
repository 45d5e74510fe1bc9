"""One Dagster partition per catalog source, so each source runs, fails and retries on its own."""

from __future__ import annotations

import dagster as dg

# The name is part of the contract: schedules and sensors call
# `instance.get_dynamic_partitions("sources")`, and docs/concepts.md names sources as the partitions.
SOURCES_PARTITIONS_NAME = "sources"

sources_partitions = dg.DynamicPartitionsDefinition(name=SOURCES_PARTITIONS_NAME)
