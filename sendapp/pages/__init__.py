"""Server-rendered pages and the installed front-end vendor files."""
