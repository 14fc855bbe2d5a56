"""files.py: writing the inputs of a test to disk."""

import json


def write(path, data) -> str:
    """Writes bytes, text, or a dict or list as indented JSON to path;
    returns the path as a string."""
    if isinstance(data, (dict, list)):
        data = json.dumps(data, indent=2)
    with open(str(path), "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return str(path)
