"""Read models: what the console, the dashboard, the statistics and the exports read (no writes)."""
