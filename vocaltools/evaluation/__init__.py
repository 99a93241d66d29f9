"""Metrics, reports and plots for predictions and votes."""
