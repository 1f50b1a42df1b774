"""The one adapter to Gmail: delegated credentials, the REST client, quota, payload rendering."""
