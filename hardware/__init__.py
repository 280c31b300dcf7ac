"""Hardware behind small interfaces: printers, buttons and LEDs, audio."""
