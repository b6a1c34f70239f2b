"""The web console: server-rendered pages (Starlette + Jinja2, htmx to enhance) over the ops layer."""
