"""Checks YAML manifests against a JSON Schema with python3-jsonschema
(Debian), independently of the Rust validator hareconcile uses.

Usage: validate.py SCHEMA FILE...
Every YAML document with an apiVersion is checked (compose files and
chart values are skipped). Prints one line per document, "ok FILE#N KIND"
or "invalid FILE#N: MESSAGE", and exits 0 either way; the Rust test reads
the lines.
"""
import json
import re
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML reads YAML 1.1, where `on`, `yes` and `no` are booleans;
    hareconcile and the YAML language server read YAML 1.2, where only
    true and false are (a Replication's `on:` is a field)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)

schema = json.load(open(sys.argv[1]))
validator_class = jsonschema.validators.validator_for(schema)
validator_class.check_schema(schema)
validator = validator_class(schema)
for path in sys.argv[2:]:
    with open(path) as f:
        documents = list(yaml.load_all(f, Loader=Yaml12Loader))
    for n, document in enumerate(documents):
        if not isinstance(document, dict) or "apiVersion" not in document:
            continue
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.path)
            print(f"invalid {path}#{n}: {where}: {first.message}")
        else:
            print(f"ok {path}#{n} {document.get('kind')}")
