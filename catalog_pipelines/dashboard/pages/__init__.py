"""One module per dashboard area; each has a `router` that `dashboard.install` mounts."""
