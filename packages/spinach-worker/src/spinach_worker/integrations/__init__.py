"""Integrations with third-party services, each a set of hooks on the job signals."""
