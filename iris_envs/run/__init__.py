"""Run: warm instances and spares, the wrapped command, connection variables, reports.

May import: build and every stage below it.
"""
