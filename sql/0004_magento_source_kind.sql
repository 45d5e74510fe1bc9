-- Magento 2 exports: sources of kind 'magento'. The list of kinds is the connector registry's
-- (catalog_pipelines/connectors/registry.py); a test checks that this constraint agrees with it.
ALTER TABLE sources DROP CONSTRAINT sources_kind_check;
ALTER TABLE sources ADD CONSTRAINT sources_kind_check
    CHECK (kind IN ('csv', 'jsonl', 'shopify', 'woocommerce', 'magento', 'http_json'));
