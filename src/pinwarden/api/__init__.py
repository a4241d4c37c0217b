"""The Seam wire protocol: app factory, adapter, auth and one module per resource."""
