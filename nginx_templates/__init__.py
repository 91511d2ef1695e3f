"""Jinja2 templates for nginx, shipped inside the package as leo_tasks.nginx_templates."""
