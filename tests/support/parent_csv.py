"""The generic CSV the import scenarios write: a key, a parent key, and a column left unmapped."""

MAPPING = """\
format: csv
key: id
parent_key: parent
currency: usd
fields:
  name: name
  price: price
  sku: sku
  inventory_quantity: qty
"""
HEADER = "id,parent,name,price,sku,qty,color"
