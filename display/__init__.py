"""Lobby display device program."""
