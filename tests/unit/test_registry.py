"""One registry of connectors: the CLI, mapping files and sources all offer what it lists."""

from __future__ import annotations

import pytest

from catalog_pipelines.cli import build_parser
from catalog_pipelines.connectors.registry import EXPORTS, FORMATS, KINDS
from catalog_pipelines.mapping import mapping_from_dict


def test_every_file_connector_is_a_format_and_every_connector_a_kind() -> None:
    assert FORMATS == ("jsonl", "shopify", "woocommerce", "magento", "csv")
    assert KINDS[:-1] == FORMATS and KINDS[-1] == "http_json"
    assert EXPORTS == ("shopify", "woocommerce", "magento")  # read without a mapping
    assert FORMATS[-1] == "csv"  # detection falls back to it, so it is asked last


def test_the_cli_and_mapping_files_accept_every_format() -> None:
    parser = build_parser()
    for name in FORMATS:
        args = parser.parse_args(["import", "f.csv", "--source", "s", "--format", name])
        assert args.format == name
        assert mapping_from_dict({"format": name, "key": "sku"}).format == name
    args = parser.parse_args(["sources", "add", "m", "--kind", "magento", "--owns", "content"])
    assert args.kind == "magento"
    with pytest.raises(SystemExit):
        parser.parse_args(["import", "f.csv", "--source", "s", "--format", "xlsx"])
