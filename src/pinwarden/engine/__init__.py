"""The reconciler, its work queue and the worker loop."""
