"""Root pytest configuration.

The docstring examples import what they use, as a user pasting them would
(``tests/test_docstring_examples.py`` checks it), so no names are injected here.
"""
