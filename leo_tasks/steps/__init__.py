"""Orchestration: each step drives one host through the Remote seam and reports
what it changed. Steps know nothing about Invoke or Fabric."""
