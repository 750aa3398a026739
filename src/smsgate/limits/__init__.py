"""Limits shared by every process of a deployment: per-number daily caps and rate limits.

Backed by Redis when the service runs as several processes; each fails closed (503 SMN.0018)
when Redis cannot answer, so no cap or rate is ever exceeded silently.
"""
