"""The web pages as Flask blueprints: sign-in, staff console, dashboard, administration, the lobby
display for smart TVs and the citizens' tracking page."""
