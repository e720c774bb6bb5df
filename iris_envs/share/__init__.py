"""Share: snapshot archives (export/import) and registry push/pull.

May import: key and every stage below it.
"""
