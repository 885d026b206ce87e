"""Thin adapters over the Azure SDKs, one per resource kind. They move values; they decide nothing."""
