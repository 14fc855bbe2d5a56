#!/usr/bin/python3
"""Generates the JSON Schema (draft 2020-12) of one OCSF event class from
a checkout of the OCSF schema repository (github.com/ocsf/ocsf-schema):

    generate.py SCHEMA_DIR authentication > authentication.schema.json

The class's attributes are merged along its "extends" chain (its category
event, base_event) with their "$include"d files, as the OCSF server
resolves them with no profile selected; each attribute's type comes from dictionary.json
(scalar types through their base type, with their regex and range),
objects become "$defs" (recursive ones by "$ref"), arrays where the
dictionary says is_array.  "required" attributes are required, the
objects' "at_least_one" and "just_one" constraints become anyOf / oneOf,
integer enums (the *_id attributes) are closed, class_uid, category_uid
and type_uid are the values the OCSF server derives (category uid * 1000
+ class uid; class_uid * 100 + activity_id), and no attribute outside the
schema is allowed, except inside the free-form "object" type (unmapped).
"""

import json
import os
import sys

BASE = {"string_t": "string", "integer_t": "integer", "long_t": "integer",
        "float_t": "number", "boolean_t": "boolean"}


class Schema:
    def __init__(self, root):
        self.root = root
        self.dictionary = self.load("dictionary.json")
        self.types = self.dictionary["types"]["attributes"]
        self.defs = {}
        self.categories = self.load("categories.json")["attributes"]

    def load(self, path):
        with open(os.path.join(self.root, path)) as f:
            return json.load(f)

    def attributes(self, doc):
        """The attributes of doc with those of the files it includes."""
        out = {}
        for name, attr in doc.get("attributes", {}).items():
            if name == "$include":
                # profiles are options a producer declares: none here
                for inc in (i for i in attr if not i.startswith("profiles/")):
                    for k, v in self.attributes(self.load(inc)).items():
                        out.setdefault(k, v)
                continue
            out[name] = {**out.get(name, {}), **attr}
        return out

    def merged(self, doc, find):
        """doc's attributes over those of its extends chain."""
        attrs, constraints = {}, {}
        if doc.get("extends"):
            attrs, constraints = self.merged(find(doc["extends"]), find)
        for name, attr in self.attributes(doc).items():
            attrs[name] = {**attrs.get(name, {}), **attr}
        constraints.update(doc.get("constraints", {}))
        return attrs, constraints

    def find_object(self, name):
        return self.load("objects/%s.json" % name)

    def find_event(self, name):
        for d, _, files in os.walk(os.path.join(self.root, "events")):
            for f in files:
                doc = json.load(open(os.path.join(d, f)))
                if doc.get("name") == name:
                    return doc
        raise KeyError(name)

    def scalar(self, type_name):
        t = self.types[type_name]
        out = {}
        if "regex" in t:
            out["pattern"] = t["regex"]
        if "range" in t:
            out["minimum"], out["maximum"] = t["range"]
        if type_name == "json_t":
            return out
        base = type_name
        while base not in BASE:
            base = self.types[base]["type"]
        out["type"] = BASE[base]
        return out

    def attribute(self, name, attr):
        entry = self.dictionary["attributes"][name]
        type_name = attr.get("type", entry["type"])
        if type_name.endswith("_t"):
            schema = self.scalar(type_name)
            enum = attr.get("enum", entry.get("enum"))
            if enum and schema.get("type") == "integer":
                schema["enum"] = sorted(int(k) for k in enum)
        else:
            schema = self.object_ref(type_name)
        if attr.get("is_array", entry.get("is_array")):
            schema = {"type": "array", "items": schema}
        return schema

    def object_ref(self, name):
        if name == "object":
            return {"type": "object"}
        if name not in self.defs:
            self.defs[name] = None
            attrs, constraints = self.merged(self.find_object(name),
                                             self.find_object)
            self.defs[name] = self.shape(attrs, constraints)
        return {"$ref": "#/$defs/%s" % name}

    def shape(self, attrs, constraints):
        out = {"type": "object",
               "properties": {n: self.attribute(n, a)
                              for n, a in sorted(attrs.items())},
               "additionalProperties": False}
        required = sorted(n for n, a in attrs.items()
                          if a.get("requirement") == "required")
        if required:
            out["required"] = required
        if "at_least_one" in constraints:
            out["anyOf"] = [{"required": [n]}
                            for n in constraints["at_least_one"]]
        if "just_one" in constraints:
            out["oneOf"] = [{"required": [n]}
                            for n in constraints["just_one"]]
        return out

    def event_class(self, name):
        doc = self.find_event(name)
        attrs, constraints = self.merged(doc, self.find_event)
        category = doc.get("category")
        chain = doc
        while category is None and chain.get("extends"):
            chain = self.find_event(chain["extends"])
            category = chain.get("category")
        category_uid = self.categories[category]["uid"]
        class_uid = category_uid * 1000 + doc["uid"]
        out = self.shape(attrs, constraints)
        props = out["properties"]
        props["category_uid"] = {"type": "integer", "const": category_uid}
        props["class_uid"] = {"type": "integer", "const": class_uid}
        props["type_uid"] = {"type": "integer",
                             "enum": [class_uid * 100 + a
                                      for a in props["activity_id"]["enum"]]}
        version = self.load("version.json")["version"]
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "ocsf-%s-%s" % (version, name),
                "title": "OCSF %s %s (class %d)" % (version, doc["caption"],
                                                     class_uid),
                **out, "$defs": dict(sorted(self.defs.items()))}


def main():
    root, name = sys.argv[1], sys.argv[2]
    json.dump(Schema(root).event_class(name), sys.stdout, indent=1,
              sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
