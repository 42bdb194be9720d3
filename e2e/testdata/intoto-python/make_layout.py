#!/usr/bin/python3
"""Writes in-toto layouts with python in-toto's own API.

Used by e2e/intoto_python_test.go to check that attestd accepts what the
reference implementation writes. Usage:

    make_layout.py SPEC

SPEC is a JSON file listing the layouts to write:

    [{"out": "root.layout", "readme": "...", "expires_days": 1,
      "drop_empty_private": false, "sign_with": null,
      "steps": [{"name": "build", "threshold": 1,
                 "keys": [{"path": "bob.pub", "type": "ed25519"}],
                 "expected_command": "make",
                 "materials": ["MATCH src/* WITH PRODUCTS FROM clone", "DISALLOW *"],
                 "products": ["CREATE build/app", "DISALLOW *"]}]}]

Keys are loaded as python in-toto users load them: RSA PEM files with
Layout.add_functionary_key_from_path (which keeps securesystemslib's empty
"private" member in keyval), ed25519 and ecdsa securesystemslib JSON files
with import_*_publickey_from_file. Rules go through
Step.add_*_rule_from_string, so python's rule parser checks them.
drop_empty_private removes the empty "private" members from the layout's
keys. A layout is written unsigned, for in-toto-sign, unless sign_with names
an RSA private key (PEM), which signs it with Metablock.sign.
"""

import copy
import json
import sys

from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Metablock
from securesystemslib import interface


def load_key(layout, key):
    if key["type"] == "rsa":
        return layout.add_functionary_key_from_path(key["path"])
    if key["type"] == "ed25519":
        return layout.add_functionary_key(interface.import_ed25519_publickey_from_file(key["path"]))
    if key["type"] == "ecdsa":
        return layout.add_functionary_key(interface.import_ecdsa_publickey_from_file(key["path"]))
    raise ValueError("unknown key type %r" % key["type"])


def make_layout(spec):
    layout = Layout(readme=spec.get("readme", ""))
    layout.set_relative_expiration(days=spec.get("expires_days", 1))
    for s in spec["steps"]:
        step = Step(name=s["name"], threshold=s.get("threshold", 1))
        step.pubkeys = [load_key(layout, k)["keyid"] for k in s["keys"]]
        step.set_expected_command_from_string(s.get("expected_command", ""))
        for rule in s.get("materials") or []:
            step.add_material_rule_from_string(rule)
        for rule in s.get("products") or []:
            step.add_product_rule_from_string(rule)
        layout.steps.append(step)

    if spec.get("drop_empty_private"):
        layout.keys = copy.deepcopy(layout.keys)
        for key in layout.keys.values():
            if key["keyval"].get("private") == "":
                del key["keyval"]["private"]

    layout.validate()
    metablock = Metablock(signed=layout)
    if spec.get("sign_with"):
        metablock.sign(interface.import_rsa_privatekey_from_file(spec["sign_with"]))
    metablock.dump(spec["out"])


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: make_layout.py SPEC")
    with open(argv[1], encoding="utf-8") as f:
        for spec in json.load(f):
            make_layout(spec)


if __name__ == "__main__":
    main(sys.argv)
