"""Persistent subscriptions: group settings, the dispatch engine and the servicer."""
