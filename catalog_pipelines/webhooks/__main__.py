"""`python -m catalog_pipelines.webhooks deliver --once`: the webhook commands on their own."""

import sys

from catalog_pipelines.webhooks.cli import main

sys.exit(main())
