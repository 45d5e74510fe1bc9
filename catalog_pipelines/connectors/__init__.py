"""Connectors turn an external input (file, feed) into a `normalized.ParsedBatch`."""
