"""`layso bench`: the load-test harness (a real server process driven by client processes)."""
