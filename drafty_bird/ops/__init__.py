"""Operational concerns, one small module each: logs, request ids, probes, errors, limits."""
