"""Profiles without an account: synced preferences, digests by feed, e-mail and webhook."""
