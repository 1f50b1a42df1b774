"""Who is who, as pure rules (no I/O): addresses, the matcher, free-mail domains, direction."""
