"""Kiosk device program: a citizen takes a number."""
