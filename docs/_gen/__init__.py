"""The docs site's generated pages (reference.py) and the mkdocs hooks that add them (hooks.py)."""
