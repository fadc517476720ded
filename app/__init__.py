"""The analyst web app: Dash pages and Flask JSON API on one server."""
