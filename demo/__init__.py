"""The demo and its harness: a scripted run of orders, the worker fleet, legacy seeding.

Run from the repository root (`python -m demo`); not part of the installed product.
"""
