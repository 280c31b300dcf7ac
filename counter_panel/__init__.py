"""Counter panel device program."""
