"""layso — lấy số: the queue-number system for public administrative service centres."""
__version__ = "0.1.0"
