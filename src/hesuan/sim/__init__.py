"""Synthetic cities and simulated testing rounds. Drives the services exactly like a real client.

May import: ``hesuan.bootstrap``, ``hesuan.services``, ``hesuan.domain``, the standard library.
"""
