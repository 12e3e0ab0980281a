"""The rules file: its schema, overrides, custom rules, lenders' own rules, versions and
live reload."""
