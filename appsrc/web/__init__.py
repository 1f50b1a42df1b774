"""Flask: the app factory, authentication and the JSON API."""
