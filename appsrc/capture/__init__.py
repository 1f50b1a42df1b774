"""Gmail capture: delegation credentials, the Gmail remote, parser, matcher and sync."""
